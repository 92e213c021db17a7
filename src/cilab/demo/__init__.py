"""`cilab demo`: every part of the lab at a small, quick setting, resumable and cached.

Parts, in order (`--only` / `--skip` pick them; `--quick`, the default, or `--full` scales them):

- `theory`: `cilab theory check` -> `theory/checks.json`.
- `gen`: AE and VAE with a 2-D latent (`gen/ae-2d`, `gen/vae-2d`, each evaluated with all figures,
  `gen/ae_vs_vae.png`), a DCGAN (`gen/dcgan`, bf16 where bf16 is fast). The VAE's and DCGAN's
  sample metrics need the judging classifier: used when cached, trained first with `--full`,
  else skipped with a note.
- `roads`: the course's logistic-regression baseline (`roads/logreg`) and a U-Net
  (`roads/unet`), cross-validated, then the U-Net's test masks and overlays
  (`roads/unet/test_pred`) and `roads/unet/submission.csv`. Without the road data the part is
  marked `missing-data` with the expected layout, and the demo goes on.
- `cosmo`: a freshly simulated set (`cosmo/sim`; `--cosmo-data DIR` uses real data instead)
  with its validation against the real calibration statistics (`cosmo/validate_sim.png`), its
  features (`cosmo/features.npz`), `cosmo/classify`, `cosmo/regress`.

Every run directory is exactly what its own command writes (config.json, metrics, figures), and
`RUNS_DIR/demo.json` summarises the parts (see `cilab.demo.cache` and the README). Each step's
config is hashed: a rerun reuses finished steps, resumes an interrupted one and reruns only the
steps whose settings changed (and those that depend on them).

`--quick` budget: ≤ 15 min on an idle 2-core laptop CPU. Not yet timed end to end on an idle
machine; estimated from CPU seconds of each step measured on the 2-core development machine
(Xeon with AMX, 1 torch thread, at low priority beside three training runs), divided by ~1.7 for
two threads; "no bf16" (a CPU without AMX or AVX512-BF16, so fp32) scales the bf16 steps
(DCGAN, U-Net) by the measured 2.3-3x:

    part    CPU-s measured (1 thread)                          2 idle cores   no bf16
    theory  2 (18 checks, 100,000 draws)                        ~2 s           ~2 s
    gen     AE/VAE 3 epochs: 644 steps x 0.13 s = 85 each;      ~4.5 min       ~7.5 min
            evals 5 + 22; DCGAN 2 epochs bf16: 468 x 0.54 s
            = 252; with a cached classifier +95 (sample          (+1 min)       (+1 min)
            metrics of VAE and DCGAN, 2,000 samples each)
    roads   logreg 3, U-Net 20 epochs 36, predict 94 test       ~40 s          ~2 min
            images 26, submission 0.3
    cosmo   simulate 300 images 6, extract 10, classify 3,      ~25 s          ~25 s
            regress 14
    total                                                       ~6-7 min       ~10-11 min
"""

from cilab.demo.config import FULL, PARTS, QUICK, SCALES, DemoConfig, Scale
from cilab.demo.runner import DemoResult, run_demo

__all__ = ["FULL", "PARTS", "QUICK", "SCALES", "DemoConfig", "DemoResult", "Scale", "run_demo"]
