"""Checkpoint reuse: full, partial (backbone), new head after a vocabulary change, freezing."""

import pytest
import torch
from torch import nn

from vocalis.train.init_weights import apply_freeze, apply_init


class Net(nn.Module):
    def __init__(self, vocab: int):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16))
        self.head = nn.Linear(16, vocab)


@pytest.fixture
def pretrained(tmp_path):
    torch.manual_seed(0)
    net = Net(10)
    path = tmp_path / "pre.pth"
    torch.save(net.state_dict(), path)
    return net, path


def test_full_reuse_loads_everything(pretrained, tmp_path):
    src, path = pretrained
    dst = Net(10)
    report = apply_init(dst, {"sources": [{"path": str(path)}]})
    assert len(report.loaded) == 6 and not report.new
    assert all(torch.equal(a, b) for a, b in zip(src.state_dict().values(), dst.state_dict().values()))
    report.write(tmp_path / "exp")
    assert "loaded 6, excluded by rule 0, skipped for shape 0, new 0" in (tmp_path / "exp/init_report.txt").read_text()


def test_new_vocabulary_keeps_the_backbone_and_reinitialises_the_named_head(pretrained):
    src, path = pretrained
    dst = Net(14)
    fresh_head = dst.head.weight.clone()
    with pytest.raises(ValueError, match=r"shapes differ.*head.weight: \(10, 16\).*vs \(14, 16\).*on_shape_mismatch: skip"):
        apply_init(dst, {"sources": [{"path": str(path)}], "expect_new": ["head.*"]})
    with pytest.raises(ValueError, match=r"without being named in init.expect_new.*head\.\*"):
        apply_init(dst, {"sources": [{"path": str(path), "on_shape_mismatch": "skip"}]})
    report = apply_init(dst, {"sources": [{"path": str(path), "on_shape_mismatch": "skip"}], "expect_new": ["head.*"]})
    assert sorted(report.skipped_shape) == ["head.bias", "head.weight"] and report.new == ["head.weight", "head.bias"]
    assert torch.equal(dst.encoder[0].weight, src.encoder[0].weight) and torch.equal(dst.head.weight, fresh_head)


def test_prefix_mapping_and_exclusion(pretrained, tmp_path):
    src, path = pretrained

    class Wrapper(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16))
            self.out = nn.Linear(16, 3)

    dst = Wrapper()
    with pytest.raises(KeyError, match="have no parameter in the model.*exclude"):
        apply_init(dst, {"sources": [{"path": str(path), "src_prefix": "", "dst_prefix": "backbone."}]})
    report = apply_init(dst, {"sources": [{"path": str(path), "src_prefix": "encoder.", "dst_prefix": "backbone.",
                                           "exclude": ["backbone.2.*"]}], "expect_new": ["out.*", "backbone.2.*"]})
    assert sorted(report.loaded) == ["backbone.0.bias", "backbone.0.weight"]
    assert len(report.excluded) == 2 and torch.equal(dst.backbone[0].weight, src.encoder[0].weight)


def test_freeze_by_prefix_and_unknown_prefix():
    net = Net(5)
    assert apply_freeze(net, ["encoder."]) == 4
    assert [n for n, p in net.named_parameters() if p.requires_grad] == ["head.weight", "head.bias"]
    with pytest.raises(ValueError, match="top-level prefixes: \\['encoder.', 'head.'\\]"):
        apply_freeze(net, ["decoder."])
