"""Road segmentation of aerial images (CIL 2019): data, 16x16 patch rules, metrics, models.

One concept per module: `data` (layout and validated reading), `patches` (the competition's
patch rule and submission files), `metrics` (counts, then reductions), `features` and
`models/` (logreg, patchcnn, unet), `augment`, `train` (k-fold CV), `postprocess`, `predict`,
`evaluate`, `submit`, `plots`.
"""
