"""What forward may return, and the errors when it returns something else."""

import pytest
import torch

from vocalis.train.losses import CTCLoss
from vocalis.train.model_contract import forward_kwargs, interpret_output, output_logits


class Logits(torch.nn.Module):
    def forward(self, speech):
        return speech[..., :5]


def batch():
    return {"utt_id": ["a", "b"], "speech": torch.randn(2, 8, 6), "speech_lengths": torch.tensor([8, 6]),
            "text": torch.tensor([[1, 2], [3, -1]]), "text_lengths": torch.tensor([2, 1])}


def test_forward_gets_only_the_fields_it_names():
    assert set(forward_kwargs(Logits(), batch())) == {"speech"}


def test_missing_forward_argument_is_explained():
    class NeedsLang(torch.nn.Module):
        def forward(self, speech, lang):
            return speech

    with pytest.raises(TypeError, match=r"NeedsLang.forward needs \['lang'\]"):
        forward_kwargs(NeedsLang(), batch())


def test_three_tuple_and_dict_outputs():
    loss = torch.tensor(2.0)
    step = interpret_output((loss, {"acc": torch.tensor(0.5), "skip": None}, torch.tensor(2)), batch(), Logits(), None)
    assert step.loss is loss and step.weight == 2 and set(step.stats) == {"acc"}
    step = interpret_output({"loss": loss, "cer": 0.1}, batch(), Logits(), None)
    assert step.weight == 2 and step.stats == {"cer": 0.1}


def test_raw_output_without_loss_block_names_model_and_fix():
    with pytest.raises(TypeError, match=r"(?s)Logits.forward returned a Tensor of shape \(2, 8, 5\).*loss:"):
        interpret_output(torch.zeros(2, 8, 5), batch(), Logits(), None)


def test_raw_logits_train_with_ctc_loss_equal_to_torch_ctc():
    b = batch()
    logits = torch.randn(2, 8, 5)
    step = interpret_output(logits, b, Logits(), CTCLoss())
    ref = torch.nn.functional.ctc_loss(logits.log_softmax(-1).transpose(0, 1), torch.tensor([[1, 2], [3, 0]]),
                                       torch.tensor([8, 6]), torch.tensor([2, 1]), reduction="sum") / 2
    assert torch.allclose(step.loss, ref)


def test_output_lengths_scale_with_subsampling():
    logits, lengths = output_logits(torch.zeros(2, 4, 5), batch(), "M")
    assert lengths.tolist() == [4, 3]


def test_ctc_loss_rejects_tokens_beyond_the_vocabulary():
    with pytest.raises(ValueError, match="does not fit the model's 3 output classes"):
        CTCLoss()(torch.zeros(2, 8, 3), batch())
