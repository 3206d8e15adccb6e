"""Parameter groups selected by name patterns, and a monitored ReduceLROnPlateau, in real Lightning training."""

import lightning as L
import pytest
import torch

from vocalis.config.schema import ConfigKeyError
from vocalis.train.optimizers import build_optimizer, build_scheduler

ADAMW = {"_target_": "torch.optim.AdamW", "lr": 0.01, "weight_decay": 0.1}


def test_groups_take_parameters_by_name_and_keep_their_options(tiny, tmp_path):
    model = tiny.model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = {**ADAMW, "param_groups": [{"params": "encoder.*", "lr": 0.0, "weight_decay": 0.0},
                                     {"params": ["*.bias"], "weight_decay": 0.0}]}
    opt = build_optimizer(model, cfg)
    names = {id(p): n for n, p in model.named_parameters()}
    groups = [[names[id(p)] for p in g["params"]] for g in opt.param_groups]
    assert all(n.startswith("encoder.") for n in groups[0])
    assert groups[1] == ["ctc_head.bias"] and groups[2] == ["ctc_head.weight"]  # first match wins; the rest
    assert [g["lr"] for g in opt.param_groups] == [0.0, 0.01, 0.01]
    assert [g["weight_decay"] for g in opt.param_groups] == [0.0, 0.0, 0.1]
    assert sum(len(g) for g in groups) == len(list(model.parameters()))

    tiny.trainer(tmp_path).fit(tiny.module(model, optimizer=cfg), tiny.batches(3))
    after = model.state_dict()
    assert all(torch.equal(after[k], before[k]) for k in before if k.startswith("encoder."))  # lr 0
    assert not torch.equal(after["ctc_head.weight"], before["ctc_head.weight"])


def test_group_errors_name_the_key_and_the_fix(tiny):
    model = tiny.model()
    with pytest.raises(ConfigKeyError, match=r"param_groups\[0\]\.params: 'decoder\.\*' matches no trainable"):
        build_optimizer(model, {**ADAMW, "param_groups": [{"params": "decoder.*", "lr": 0.1}]})
    with pytest.raises(ConfigKeyError, match=r"param_groups\[0\]\.weight_decy: .*\(did you mean 'weight_decay'"):
        build_optimizer(model, {**ADAMW, "param_groups": [{"params": "encoder.*", "weight_decy": 0.0}]})
    with pytest.raises(ConfigKeyError, match=r"param_groups\[0\]\.params: give parameter-name patterns"):
        build_optimizer(model, {**ADAMW, "param_groups": [{"lr": 0.1}]})


def test_reduce_on_plateau_follows_the_monitored_metric(tiny, tmp_path):
    model = tiny.model()
    optimizer = {"_target_": "torch.optim.SGD", "lr": 1e-9}  # valid/loss stays flat: every epoch is a plateau
    scheduler = {"_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau", "monitor": "valid/loss", "factor": 0.5,
                 "patience": 0, "eps": 0.0}
    module = tiny.module(model, optimizer=optimizer, scheduler=scheduler, interval="epoch")
    trainer = tiny.trainer(tmp_path, max_epochs=4)
    trainer.fit(module, tiny.batches(2), tiny.batches(2, seed=1))
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(1e-9 * 0.5**3)  # epochs 2, 3, 4


def test_monitored_scheduler_needs_monitor_and_epoch_interval(tiny):
    opt = torch.optim.SGD(tiny.model().parameters(), lr=0.1)
    plateau = {"_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau"}
    with pytest.raises(ConfigKeyError, match="scheduler.monitor: .*ReduceLROnPlateau needs the metric"):
        build_scheduler(opt, plateau, "epoch")
    with pytest.raises(ConfigKeyError, match="scheduler_interval: epoch"):
        build_scheduler(opt, {**plateau, "monitor": "valid/loss"}, "step")


def test_adam_takes_its_fused_kernel_unless_the_block_chooses(tiny):
    model = tiny.model()
    assert build_optimizer(model, ADAMW).defaults["fused"] is True
    assert build_optimizer(model, {**ADAMW, "foreach": True}).defaults["fused"] is None  # the user's choice stands
    assert build_optimizer(model, {**ADAMW, "fused": False}).defaults["fused"] is False
    assert build_optimizer(model, ADAMW, allow_fused=False).defaults["fused"] is None
    assert "fused" not in build_optimizer(model, {"_target_": "torch.optim.RMSprop", "lr": 0.1}).defaults


def test_fused_adam_steps_as_the_per_tensor_loop():
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(5, 3)), torch.nn.Parameter(torch.randn(7))]
    twins = [torch.nn.Parameter(p.detach().clone()) for p in params]
    fused, loop = torch.optim.AdamW(params, lr=0.01, fused=True), torch.optim.AdamW(twins, lr=0.01, foreach=False)
    for _ in range(5):
        for p, q in zip(params, twins):
            p.grad = q.grad = torch.randn_like(p)
        fused.step()
        loop.step()
    for p, q in zip(params, twins):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


class StepGradNorms(L.Callback):
    """The total norm (2 or max) of the gradients each optimizer step used (after clipping; Lightning runs
    forward and backward inside `optimizer.step(closure)`, so a post-step hook sees them)."""

    def __init__(self, algorithm: str = "norm"):
        self.norms: list[float] = []
        self.order = 2 if algorithm == "norm" else float("inf")  # "value" clips every entry

    def on_train_start(self, trainer, pl_module):
        def record(optimizer, args, kwargs):
            grads = [p.grad.flatten() for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
            self.norms.append(float(torch.linalg.vector_norm(torch.cat(grads), self.order)))
        trainer.optimizers[0].register_step_post_hook(record)


@pytest.mark.parametrize("algorithm", ["norm", "value"])
def test_bf16_mixed_training_clips_the_gradients_of_the_fused_optimizer(tiny, tmp_path, algorithm):
    """Lightning's mixed-precision plugin refuses to clip for a fused optimizer (for float16's
    loss scaler); bfloat16 has none, so the module clips itself and keeps the 3x faster kernel."""
    norms = StepGradNorms(algorithm)
    trainer = tiny.trainer(tmp_path, callbacks=[norms], precision="bf16-mixed", gradient_clip_val=1e-3,
                           gradient_clip_algorithm=algorithm)
    module = tiny.module(tiny.model(), optimizer=ADAMW)
    trainer.fit(module, tiny.batches(2))
    assert module.nonfinite_total == 0  # every batch took part
    assert trainer.optimizers[0].defaults["fused"] is True
    assert trainer.global_step == 2
    assert len(norms.norms) == 2 and all(0 < n <= 1e-3 * 1.001 for n in norms.norms)


def test_float32_training_clips_through_lightning(tiny, tmp_path):
    norms = StepGradNorms()
    trainer = tiny.trainer(tmp_path, callbacks=[norms], gradient_clip_val=1e-3)
    trainer.fit(tiny.module(tiny.model(), optimizer=ADAMW), tiny.batches(2))
    assert trainer.optimizers[0].defaults["fused"] is True
    assert len(norms.norms) == 2 and all(0 < n <= 1e-3 * 1.001 for n in norms.norms)
