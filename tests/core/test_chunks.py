import pytest

from cilab.core.chunks import balanced_chunks


@pytest.mark.parametrize("n", [1, 2, 7, 32, 33, 64, 300, 12_000])
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_chunks_keep_order_and_balance(n: int, workers: int) -> None:
    items = list(range(n))
    chunks = balanced_chunks(items, workers, max_size=32)
    assert [x for c in chunks for x in c] == items
    sizes = [len(c) for c in chunks]
    assert max(sizes) <= 32 and max(sizes) - min(sizes) <= 1
    if n >= workers:
        assert len(chunks) % workers == 0


def test_300_images_on_2_workers_split_evenly() -> None:
    # the benchmark's case: fixed chunks of 32 gave one worker 160 images and the other 140
    chunks = balanced_chunks(list(range(300)), 2)
    assert [len(c) for c in chunks] == [30] * 10


def test_empty_and_bad_arguments() -> None:
    assert balanced_chunks([], 2) == []
    with pytest.raises(ValueError, match="workers"):
        balanced_chunks([1], 0)
