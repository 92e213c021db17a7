"""Peer for bench_gen.py --model dcgan: a REPRODUCTION of the TensorFlow DCGAN tutorial's code.

Reproduces (not copies) the TensorFlow tutorial "Deep Convolutional Generative Adversarial
Network" (tensorflow/docs, site/en/tutorials/generative/dcgan.ipynb), the code the exercise's
Problem 3 starts from: the same `make_generator_model` / `make_discriminator_model`, the same
losses (`BinaryCrossentropy(from_logits=True)`), two `Adam(1e-4)`, the same `@tf.function
train_step` with two GradientTapes, fed by
`tf.data.Dataset.from_tensor_slices(train_images).shuffle(60000).batch(256)` over the 60,000
MNIST training images scaled to [-1, 1], epoch after epoch.

    generator: Dense(7*7*256, no bias) -> BN -> LeakyReLU -> Reshape(7, 7, 256)
       -> Conv2DTranspose(128, 5, s1, same, no bias) -> BN -> LeakyReLU
       -> Conv2DTranspose(64, 5, s2, same, no bias) -> BN -> LeakyReLU
       -> Conv2DTranspose(1, 5, s2, same, no bias, tanh)
    discriminator: Conv2D(64, 5, s2, same) -> LeakyReLU -> Dropout(0.3)
       -> Conv2D(128, 5, s2, same) -> LeakyReLU -> Dropout(0.3) -> Flatten -> Dense(1)

One addition: `train_step` returns its two losses, so that the timer can wait for the last step
(reading them costs nothing next to a step). Per-epoch image grids and checkpoints, which the
tutorial writes once per epoch, are left out (the benchmark times steps).

Runs on tensorflow-cpu in its own virtual environment (benchmarks/README.md), so cilab's venv
is never touched; it imports nothing from cilab. It trains `--warmup + --steps` steps and
reports the training images per second over the last `--steps` (tracing and the first steps
excluded), as one JSON object written to `--json-out`.

    .venv-bench/bin/python benchmarks/peers/tf_dcgan.py --data-dir DIR --steps 100 \
        --json-out tf.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from keras_vae import find_mnist, read_idx_images  # the sibling peer; sets TF's log level

BUFFER_SIZE = 60000
NOISE_DIM = 100


def make_generator_model(tf):  # the module is passed in: importing this file needs no TF
    layers = tf.keras.layers
    model = tf.keras.Sequential()
    model.add(layers.Input(shape=(NOISE_DIM,)))
    model.add(layers.Dense(7 * 7 * 256, use_bias=False))
    model.add(layers.BatchNormalization())
    model.add(layers.LeakyReLU())
    model.add(layers.Reshape((7, 7, 256)))
    assert model.output_shape == (None, 7, 7, 256)

    model.add(layers.Conv2DTranspose(128, (5, 5), strides=(1, 1), padding="same", use_bias=False))
    assert model.output_shape == (None, 7, 7, 128)
    model.add(layers.BatchNormalization())
    model.add(layers.LeakyReLU())

    model.add(layers.Conv2DTranspose(64, (5, 5), strides=(2, 2), padding="same", use_bias=False))
    assert model.output_shape == (None, 14, 14, 64)
    model.add(layers.BatchNormalization())
    model.add(layers.LeakyReLU())

    model.add(
        layers.Conv2DTranspose(
            1, (5, 5), strides=(2, 2), padding="same", use_bias=False, activation="tanh"
        )
    )
    assert model.output_shape == (None, 28, 28, 1)
    return model


def make_discriminator_model(tf):
    layers = tf.keras.layers
    model = tf.keras.Sequential()
    model.add(layers.Input(shape=(28, 28, 1)))
    model.add(layers.Conv2D(64, (5, 5), strides=(2, 2), padding="same"))
    model.add(layers.LeakyReLU())
    model.add(layers.Dropout(0.3))

    model.add(layers.Conv2D(128, (5, 5), strides=(2, 2), padding="same"))
    model.add(layers.LeakyReLU())
    model.add(layers.Dropout(0.3))

    model.add(layers.Flatten())
    model.add(layers.Dense(1))
    return model


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", required=True, help="folder with the MNIST IDX files")
    p.add_argument("--steps", type=int, default=100, help="timed training steps")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps first (>= 1)")
    p.add_argument("--batch-size", type=int, default=256, help="the tutorial's batch size")
    p.add_argument("--json-out", required=True, help="where to write the result")
    args = p.parse_args(argv)
    if args.steps < 1 or args.warmup < 1:
        p.error("--steps and --warmup must be >= 1")

    import tensorflow as tf

    batch_size = args.batch_size
    train_images = read_idx_images(find_mnist(args.data_dir), "train-images-idx3-ubyte")
    train_images = train_images.reshape(train_images.shape[0], 28, 28, 1).astype("float32")
    train_images = (train_images - 127.5) / 127.5  # [-1, 1]
    train_dataset = (
        tf.data.Dataset.from_tensor_slices(train_images).shuffle(BUFFER_SIZE).batch(batch_size)
    )

    generator = make_generator_model(tf)
    discriminator = make_discriminator_model(tf)
    cross_entropy = tf.keras.losses.BinaryCrossentropy(from_logits=True)

    def discriminator_loss(real_output, fake_output):
        real_loss = cross_entropy(tf.ones_like(real_output), real_output)
        fake_loss = cross_entropy(tf.zeros_like(fake_output), fake_output)
        return real_loss + fake_loss

    def generator_loss(fake_output):
        return cross_entropy(tf.ones_like(fake_output), fake_output)

    generator_optimizer = tf.keras.optimizers.Adam(1e-4)
    discriminator_optimizer = tf.keras.optimizers.Adam(1e-4)

    @tf.function
    def train_step(images):
        noise = tf.random.normal([batch_size, NOISE_DIM])

        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            generated_images = generator(noise, training=True)

            real_output = discriminator(images, training=True)
            fake_output = discriminator(generated_images, training=True)

            gen_loss = generator_loss(fake_output)
            disc_loss = discriminator_loss(real_output, fake_output)

        gradients_of_generator = gen_tape.gradient(gen_loss, generator.trainable_variables)
        gradients_of_discriminator = disc_tape.gradient(
            disc_loss, discriminator.trainable_variables
        )

        generator_optimizer.apply_gradients(
            zip(gradients_of_generator, generator.trainable_variables, strict=True)
        )
        discriminator_optimizer.apply_gradients(
            zip(gradients_of_discriminator, discriminator.trainable_variables, strict=True)
        )
        return gen_loss, disc_loss

    # The tutorial's `train`: for epoch ...: for image_batch in dataset: train_step(image_batch)
    step, images, t0, losses = 0, 0, 0.0, None
    while step < args.warmup + args.steps:
        for image_batch in train_dataset:
            losses = train_step(image_batch)
            step += 1
            if step == args.warmup:
                float(losses[0])  # wait for the step to finish, then start the clock
                t0 = time.perf_counter()
            elif step > args.warmup:
                images += int(image_batch.shape[0])
            if step == args.warmup + args.steps:
                break
    gen_loss, disc_loss = float(losses[0]), float(losses[1])
    seconds = time.perf_counter() - t0
    result = {
        "img_per_s": images / seconds,
        "images": images,
        "seconds": seconds,
        "steps": args.steps,
        "batch_size": batch_size,
        "final_gen_loss": gen_loss,
        "final_disc_loss": disc_loss,
        "tensorflow": tf.__version__,
        "keras": getattr(tf.keras, "__version__", None),
        "python": sys.version.split()[0],
    }
    Path(args.json_out).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
