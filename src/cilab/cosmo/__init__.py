"""Cosmology images: data layout, a calibrated simulator, hand-crafted features and models.

Nothing is imported here on purpose: `import cilab.cosmo` stays cheap, and each module pulls
in only what it needs (scikit-image, joblib, matplotlib).
"""
