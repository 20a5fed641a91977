"""The PyTorch networks and optimizer: structure against torchvision, SGD against closed forms."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from backends.torch.networks import BUILDERS, build, count_trainable  # noqa: E402
from backends.torch.optim import HarnessSGD  # noqa: E402

pytestmark = pytest.mark.torch


def _on_meta(fn):
    with torch.device("meta"):
        return fn()


@pytest.mark.parametrize("name, ref", [("vgg16_bn", "vgg16_bn"), ("mobilenet_v2", "mobilenet_v2")])
def test_imagenet_size_matches_torchvision(name, ref):
    ours = _on_meta(lambda: build(name, (224, 224, 3), 1000))
    theirs = _on_meta(lambda: getattr(torchvision.models, ref)(weights=None))
    assert count_trainable(ours) == count_trainable(theirs)
    # same parameter shapes in the same order: the same layers
    assert [tuple(p.shape) for p in ours.parameters()] == [tuple(p.shape) for p in theirs.parameters()]
    assert count_trainable(theirs) == {"vgg16_bn": 138_365_992, "mobilenet_v2": 3_504_872}[name]


def test_mobilenet_width_multiplier_matches_torchvision():
    ours = _on_meta(lambda: build("mobilenet_v2", (224, 224, 3), 1000, width=0.5))
    theirs = _on_meta(lambda: torchvision.models.mobilenet_v2(weights=None, width_mult=0.5))
    assert count_trainable(ours) == count_trainable(theirs)


@pytest.mark.parametrize("depth, params", [(20, 0.27e6), (56, 0.85e6), (110, 1.7e6)])
def test_cifar_resnet_sizes(depth, params):
    # He et al. 2016 Table 6 (option A shortcuts): 0.27M, 0.85M, 1.7M; option B's
    # projections add 2 x (1x1 conv + BN) = 2,592 + 192 parameters (32 and 64 channels)
    m = build(f"resnet{depth}", (32, 32, 3), 10)
    n = count_trainable(m)
    assert abs(n - params) / params < 0.05
    conv_blocks = sum(1 for x in m.modules() if isinstance(x, torch.nn.Conv2d) and x.kernel_size == (3, 3))
    assert conv_blocks == depth - 1  # stem + 2 per block; the dense layer makes depth


@pytest.mark.parametrize("name", sorted(BUILDERS))
@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3)])
def test_forward_any_input(name, shape):
    torch.manual_seed(0)
    m = build(name, shape, 10).eval()
    x = torch.randn(2, shape[2], shape[0], shape[1])
    with torch.no_grad():
        y = m(x)
    assert y.shape == (2, 10) and torch.isfinite(y).all()


@pytest.mark.parametrize("name", ["simple_cnn", "mobilenet_v2", "resnet20"])
def test_forward_64px(name):
    m = build(name, (64, 64, 3), 200).eval()
    with torch.no_grad():
        assert m(torch.randn(1, 3, 64, 64)).shape == (1, 200)


def test_small_input_stems_keep_resolution():
    vgg = build("vgg16_bn", (28, 28, 1), 10)
    pools = [m for m in vgg.modules() if isinstance(m, torch.nn.MaxPool2d)]
    assert len(pools) == 4  # 28-14-7-3-1: the fifth pool would see 1x1 and is skipped
    assert len([m for m in build("vgg16_bn", (32, 32, 3), 10).modules() if isinstance(m, torch.nn.MaxPool2d)]) == 5
    mb = build("mobilenet_v2", (32, 32, 3), 10)
    assert mb[0][0][0].stride == (1, 1)
    feats = {}
    mb[0].register_forward_hook(lambda m, i, o: feats.update(out=o.shape))
    mb.eval()(torch.randn(1, 3, 32, 32))
    assert feats["out"][-2:] == (4, 4)  # total stride 8 instead of 32


def test_initialisation_scheme():
    torch.manual_seed(0)
    m = build("vgg16_bn", (32, 32, 3), 10)
    conv = next(x for x in m.modules() if isinstance(x, torch.nn.Conv2d) and x.in_channels == 256)
    fan_out = conv.out_channels * 9
    assert conv.weight.std().item() == pytest.approx((2.0 / fan_out) ** 0.5, rel=0.05)
    assert torch.all(conv.bias == 0)
    lin = next(x for x in m.modules() if isinstance(x, torch.nn.Linear))
    assert lin.weight.std().item() == pytest.approx(0.01, rel=0.05)
    bn = next(x for x in m.modules() if isinstance(x, torch.nn.BatchNorm2d))
    assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)


def test_bn_momentum_and_eps_from_spec():
    m = build("resnet20", (32, 32, 3), 10, bn_momentum=0.05, bn_eps=1e-3)
    bns = [x for x in m.modules() if isinstance(x, torch.nn.BatchNorm2d)]
    assert bns and all(b.momentum == 0.05 and b.eps == 1e-3 for b in bns)


def test_simple_cnn_flattens_in_hwc_order():
    m = build("simple_cnn", (28, 28, 1), 10)
    flat = m[8]
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)  # N C H W
    ref = x.permute(0, 2, 3, 1).reshape(2, -1)  # N H W C flattened
    assert torch.equal(flat(x), ref)


class _Spec:
    def __init__(self, form, nesterov=False, decay=0.0, bn=False):
        self.momentum_form, self.nesterov, self.decay, self.decay_bn_and_bias = form, nesterov, decay, bn


def _grads(seed, shapes):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*s, generator=g, dtype=torch.float64) for s in shapes]


SHAPES = [(4, 3), (3,)]
SCHED = [(0.1, 0.95), (0.3, 0.9), (0.05, 0.85), (0.2, 0.9), (0.2, 0.9)]


def _run_ours(form, nesterov, decay, bn=False):
    ps = [torch.nn.Parameter(t) for t in _grads(99, SHAPES)]
    dec = [p for p in ps if p.ndim > 1 or bn]
    rest = [p for p in ps if not (p.ndim > 1 or bn)]
    opt = HarnessSGD(dec, rest, form=form, nesterov=nesterov, decay=decay)
    for k, (lr, mu) in enumerate(SCHED):
        for p, g in zip(ps, _grads(k, SHAPES)):
            p.grad = g.clone()
        opt.step(lr, mu)
    return [p.detach().clone() for p in ps]


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("decay", [0.0, 1e-2])
def test_torch_form_equals_torch_sgd(nesterov, decay):
    ours = _run_ours("torch", nesterov, decay, bn=True)
    ps = [torch.nn.Parameter(t) for t in _grads(99, SHAPES)]
    opt = torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=nesterov, weight_decay=decay)
    for k, (lr, mu) in enumerate(SCHED):
        for g in opt.param_groups:
            g["lr"], g["momentum"] = lr, mu
        for p, g in zip(ps, _grads(k, SHAPES)):
            p.grad = g.clone()
        opt.step()
    for a, b in zip(ours, ps):
        torch.testing.assert_close(a, b.detach(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("nesterov", [False, True])
def test_caffe_form_closed_form(nesterov):
    decay = 1e-2
    ours = _run_ours("caffe", nesterov, decay)
    ws = [t.numpy().copy() for t in _grads(99, SHAPES)]
    vs = [np.zeros_like(w) for w in ws]
    for k, (lr, mu) in enumerate(SCHED):
        for i, g in enumerate(_grads(k, SHAPES)):
            g = g.numpy() + (decay * ws[i] if ws[i].ndim > 1 else 0.0)  # biases not decayed
            v_old = vs[i]
            vs[i] = mu * v_old - lr * g
            if nesterov:  # Caffe NesterovSolver: w -= (1+mu) h - mu h_prev, with h = -v
                ws[i] = ws[i] + (1 + mu) * vs[i] - mu * v_old
            else:
                ws[i] = ws[i] + vs[i]
    for a, b in zip(ours, ws):
        np.testing.assert_allclose(a.numpy(), b, rtol=1e-12, atol=1e-14)


def test_forms_differ_when_lr_changes_and_agree_when_constant():
    caffe, torch_ = _run_ours("caffe", False, 0.0), _run_ours("torch", False, 0.0)
    assert not torch.allclose(caffe[0], torch_[0], rtol=1e-6)
    global SCHED
    saved = SCHED
    try:
        SCHED = [(0.1, 0.9)] * 5
        c, t = _run_ours("caffe", False, 0.0), _run_ours("torch", False, 0.0)
    finally:
        SCHED = saved
    # constant lr: caffe v = -lr * torch v (torch's first step v = g, caffe's v = -lr*g)
    torch.testing.assert_close(c[0], t[0], rtol=1e-12, atol=1e-14)


def test_for_model_excludes_bn_and_bias_by_default():
    m = build("simple_cnn", (28, 28, 1), 10)

    class Opt:
        momentum_form, nesterov, decay, decay_bn_and_bias = "caffe", False, 1e-4, False

    opt = HarnessSGD.for_model(m, Opt())
    assert all(p.ndim > 1 for p in opt.decayed) and all(p.ndim == 1 for p in opt.not_decayed)
    assert len(opt.decayed) == 4  # two conv kernels, two dense kernels
    Opt.decay_bn_and_bias = True
    assert len(HarnessSGD.for_model(m, Opt()).not_decayed) == 0
