"""A batch that runs out of memory is halved and retried until it fits; no item is dropped."""


import pytest

from vocalis.data.manifest import ManifestDataset
from vocalis.infer.runner import InferenceRunner
from vocalis.infer.speech2text import Speech2Text


class OutOfMemoryAbove:
    """The trained model, failing like CUDA does for batches larger than ``limit``."""

    def __init__(self, model, limit: int):
        self.model, self.limit, self.calls = model, limit, []

    def __call__(self, speech):
        self.calls.append(len(speech))
        if len(speech) > self.limit:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.model(speech)


def runner(batch_size):
    return InferenceRunner(provider=None, input_key="speech", output_fn="vocalis.infer.output.asr_output",
                           output_keys=None, batch_size=batch_size)


@pytest.fixture(scope="module")
def model_and_items(trained_digits):
    items = [ManifestDataset(trained_digits.path / "data/manifest", "test")[i] for i in range(6)]
    return Speech2Text(trained_digits.exp_dir, checkpoint="best"), items


def test_out_of_memory_halves_the_batch_and_keeps_every_item(model_and_items):
    model, items = model_and_items
    flaky = OutOfMemoryAbove(model, limit=2)
    outputs = runner(batch_size=6).forward(flaky, items)
    assert flaky.calls == [6, 3, 1, 2, 3, 1, 2]
    singles = [model(item["speech"]) for item in items]
    assert outputs == singles


def test_one_item_that_does_not_fit_names_the_utterance(model_and_items):
    model, items = model_and_items
    with pytest.raises(RuntimeError, match=f"utterance {items[0]['utt_id']} does not fit in memory even alone"):
        runner(batch_size=4).forward(OutOfMemoryAbove(model, limit=0), items[:4])


def test_other_runtime_errors_are_not_retried(model_and_items):
    _, items = model_and_items

    class Broken:
        calls = 0

        def __call__(self, speech):
            Broken.calls += 1
            raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        runner(batch_size=4).forward(Broken(), items[:4])
    assert Broken.calls == 1
