"""Peer for bench_gen.py: a REPRODUCTION of the Keras VAE example's model and training step.

Reproduces (not copies) keras-io `examples/generative/vae.py` (fchollet, 2020), the VAE most
users would pick instead of cilab's: the same layers, the same custom `train_step`
(binary cross-entropy summed over the 28x28 pixels + the closed-form KL, batch mean), the same
optimizer (Adam, Keras defaults: lr 1e-3), batch 128, trained with `model.fit` on MNIST train +
test together (70,000 grey-level images in [0, 1]), as the example does.

    encoder: Conv2D(32, 3, s2, relu, same) -> Conv2D(64, 3, s2, relu, same) -> Flatten
             -> Dense(16, relu) -> z_mean, z_log_var (Dense 2 each) -> z = mean + exp(lv/2) eps
    decoder: Dense(7*7*64, relu) -> Reshape(7, 7, 64) -> Conv2DTranspose(64, 3, s2, relu, same)
             -> Conv2DTranspose(32, 3, s2, relu, same) -> Conv2DTranspose(1, 3, sigmoid, same)

Runs on tensorflow-cpu in its own virtual environment (benchmarks/README.md), so cilab's venv
is never touched; it imports nothing from cilab. It trains `--warmup + --steps` batches in one
`fit` call and reports the training images per second over the last `--steps` batches (graph
building and the first steps excluded), as one JSON object written to `--json-out`.

    .venv-bench/bin/python benchmarks/peers/keras_vae.py --data-dir DIR --steps 100 \
        --json-out keras.json
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's start-up chatter out of the logs

import numpy as np

IMAGE_FILES = ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte")


def read_idx_images(folder: Path, name: str) -> np.ndarray:
    """uint8 [N, 28, 28] from an IDX3 file, gzip-compressed (NAME.gz) or not (NAME)."""
    for path, opener in ((folder / f"{name}.gz", gzip.open), (folder / name, open)):
        if path.exists():
            with opener(path, "rb") as f:
                data = f.read()
            break
    else:
        raise SystemExit(f"{folder}: no {name}[.gz]; pass --data-dir DIR with the MNIST IDX files")
    magic, n, rows, cols = np.frombuffer(data[:16], dtype=">i4")
    if magic != 2051 or (rows, cols) != (28, 28):
        raise SystemExit(f"{name}: not a 28x28 IDX3 image file")
    return np.frombuffer(data[16:], dtype=np.uint8, count=n * rows * cols).reshape(n, rows, cols)


def find_mnist(data_dir: str) -> Path:
    root = Path(data_dir)
    return root / "mnist" if (root / "mnist").is_dir() else root


def build_vae(keras, tf):  # modules passed in: importing this file needs no TF
    layers = keras.layers
    latent_dim = 2

    class Sampling(layers.Layer):
        """z = z_mean + exp(z_log_var / 2) * eps, eps ~ N(0, I)."""

        def call(self, inputs):
            z_mean, z_log_var = inputs
            eps = tf.random.normal(shape=tf.shape(z_mean))
            return z_mean + tf.exp(0.5 * z_log_var) * eps

    inp = keras.Input(shape=(28, 28, 1))
    h = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(inp)
    h = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(h)
    h = layers.Dense(16, activation="relu")(layers.Flatten()(h))
    z_mean = layers.Dense(latent_dim, name="z_mean")(h)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(h)
    encoder = keras.Model(inp, [z_mean, z_log_var, Sampling()([z_mean, z_log_var])])

    zin = keras.Input(shape=(latent_dim,))
    h = layers.Reshape((7, 7, 64))(layers.Dense(7 * 7 * 64, activation="relu")(zin))
    h = layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu")(h)
    h = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(h)
    out = layers.Conv2DTranspose(1, 3, padding="same", activation="sigmoid")(h)
    decoder = keras.Model(zin, out)

    class VAE(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.encoder, self.decoder = encoder, decoder
            self.loss_tracker = keras.metrics.Mean(name="loss")

        @property
        def metrics(self):
            return [self.loss_tracker]

        def train_step(self, data):
            with tf.GradientTape() as tape:
                z_mean, z_log_var, z = self.encoder(data)
                recon = self.decoder(z)
                bce = keras.losses.binary_crossentropy(data, recon)  # [B, 28, 28]
                recon_loss = tf.reduce_mean(tf.reduce_sum(bce, axis=(1, 2)))
                kl = -0.5 * (1 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var))
                loss = recon_loss + tf.reduce_mean(tf.reduce_sum(kl, axis=1))
            grads = tape.gradient(loss, self.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.trainable_weights, strict=True))
            self.loss_tracker.update_state(loss)
            return {"loss": self.loss_tracker.result()}

        def call(self, x):
            return self.decoder(self.encoder(x)[2])

    return VAE()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", required=True, help="folder with the MNIST IDX files")
    p.add_argument("--steps", type=int, default=100, help="timed training steps")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps first")
    p.add_argument("--batch-size", type=int, default=128, help="the example's batch size")
    p.add_argument("--json-out", required=True, help="where to write the result")
    args = p.parse_args(argv)

    import keras
    import tensorflow as tf

    folder = find_mnist(args.data_dir)
    digits = np.concatenate([read_idx_images(folder, n) for n in IMAGE_FILES])
    digits = np.expand_dims(digits, -1).astype("float32") / 255
    total = (args.warmup + args.steps) * args.batch_size
    if len(digits) < total:  # more steps than one pass: repeat the data, like more epochs
        digits = np.resize(digits, (total, *digits.shape[1:]))
    digits = digits[:total]

    stamps: list[float] = []

    class Stamp(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            stamps.append(time.perf_counter())

    vae = build_vae(keras, tf)
    vae.compile(optimizer=keras.optimizers.Adam())
    hist = vae.fit(digits, epochs=1, batch_size=args.batch_size, verbose=0, callbacks=[Stamp()])
    seconds = stamps[-1] - stamps[args.warmup - 1] if args.warmup else stamps[-1] - stamps[0]
    timed = args.steps if args.warmup else args.steps - 1
    result = {
        "img_per_s": timed * args.batch_size / seconds,
        "seconds": seconds,
        "steps": timed,
        "batch_size": args.batch_size,
        "final_loss": float(hist.history["loss"][-1]),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": sys.version.split()[0],
    }
    Path(args.json_out).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
