"""Tiny Brevitas networks that stand for the network classes FINN users bring.

Each one keeps the structure that matters to FINN (layer kinds, bit widths, residual adds,
depthwise convolutions, float or integer input, ...) of a real network from finn-examples or
finn-plus's benchmarks, shrunk so that an estimate build takes a few seconds. Weights are
random (seed them with ``torch.manual_seed``): FINN's estimates depend on shapes and bit
widths only. :mod:`dse.models` registers them in the zoo with their FINN flows.

Example::

    import torch
    from dse.nets import NETS
    torch.manual_seed(0)
    model = NETS["MobileNetTiny"]().eval()
"""

from __future__ import annotations

import math
from typing import Callable

import brevitas.nn as qnn
import torch
from brevitas.quant import (
    Int8ActPerTensorFloat,
    Int8WeightPerTensorFloat,
    Int32Bias,
    TruncTo8bit,
    Uint8ActPerTensorFloat,
)
from brevitas.quant_tensor import QuantTensor
from torch import nn

# -- quantizers (as brevitas_examples/imagenet_classification/models/common.py) --------------


class WeightPerTensor(Int8WeightPerTensorFloat):
    """Signed narrow-range weights, one scale per tensor; bit width set per layer."""

    scaling_min_val = 2e-16
    bit_width = None


class WeightPerChannel(WeightPerTensor):
    """Signed narrow-range weights, one scale per output channel; bit width set per layer."""

    scaling_per_output_channel = True


class UintAct(Uint8ActPerTensorFloat):
    """Unsigned activations (QuantReLU); bit width set per layer."""

    scaling_min_val = 2e-16
    bit_width = None


class IntAct(Int8ActPerTensorFloat):
    """Signed activations (input quantizers); bit width set per layer."""

    scaling_min_val = 2e-16
    bit_width = None


def _relu(bits: int, channels: int | None = None) -> qnn.QuantReLU:
    """A QuantReLU with per-tensor scale, or per-channel scale when ``channels`` is given."""
    if channels is None:
        return qnn.QuantReLU(act_quant=UintAct, bit_width=bits, return_quant_tensor=True)
    return qnn.QuantReLU(
        act_quant=UintAct,
        bit_width=bits,
        per_channel_broadcastable_shape=(1, channels, 1, 1),
        scaling_stats_permute_dims=(1, 0, 2, 3),
        scaling_per_output_channel=True,
        return_quant_tensor=True,
    )


def _conv2d(cin: int, cout: int, k: int, wbits: int, stride: int = 1, groups: int = 1) -> qnn.QuantConv2d:
    return qnn.QuantConv2d(
        cin, cout, k, stride=stride, padding=k // 2, groups=groups, bias=False,
        weight_quant=WeightPerChannel, weight_bit_width=wbits,
    )


# -- MobileNet-v1 -----------------------------------------------------------------------------


class _ConvBlock(nn.Module):
    """Conv, BatchNorm, QuantReLU (brevitas_examples' MobileNet ConvBlock)."""

    def __init__(self, cin: int, cout: int, k: int, wbits: int, abits: int, stride: int = 1,
                 groups: int = 1, act_per_channel: bool = False) -> None:
        super().__init__()
        self.conv = _conv2d(cin, cout, k, wbits, stride, groups)
        self.bn = nn.BatchNorm2d(cout)
        self.act = _relu(abits, cout if act_per_channel else None)

    def forward(self, x: torch.Tensor) -> QuantTensor:
        return self.act(self.bn(self.conv(x)))


class MobileNetTiny(nn.Module):
    """MobileNet-v1 w4a4 (finn-examples ``mobilenetv1-w4a4``, finn-plus ``dut/mobilenetv1.yml``).

    Same structure as ``brevitas_examples.imagenet_classification.models.mobilenetv1``: an
    8-bit-weight 3x3 stem conv with stride 2, depthwise-separable blocks (3x3 depthwise conv
    with ``groups=channels``, then 1x1 pointwise conv, each with BatchNorm and a 4-bit
    QuantReLU), a truncating global average pool and a 4-bit QuantLinear classifier with
    an int32 bias. No input quantizer: the input is UINT8 pixels (annotated at export), as
    the pre-processed finn-examples model. 1x3x16x16 input, 8-16 channels.

    ``channels``: the stem's output channels, then each block's. ``strides``: each block's
    depthwise stride (default: 1 for the first block, 2 for every other, i.e. one block per
    stage as the original's ``first_stage_stride=False``). ``tensor_scaled_tail``: how many
    final blocks have a per-tensor (not per-channel) scale on their pointwise activation (the
    original: every block of the last stage). :func:`mobilenet_v1` gives the real network.
    """

    def __init__(self, channels: tuple[int, ...] = (8, 16, 16), num_classes: int = 10,
                 bits: int = 4, spatial: int = 16, strides: tuple[int, ...] | None = None,
                 tensor_scaled_tail: int = 1) -> None:
        super().__init__()
        if strides is None:
            strides = tuple(1 if i == 0 else 2 for i in range(len(channels) - 1))
        if len(strides) != len(channels) - 1:
            raise ValueError(f"strides: one per block ({len(channels) - 1}), got {len(strides)}")
        self.stem = _ConvBlock(3, channels[0], 3, wbits=8, abits=bits, stride=2, act_per_channel=True)
        blocks: list[nn.Module] = []
        cin = channels[0]
        for i, (cout, stride) in enumerate(zip(channels[1:], strides)):
            tail = i >= len(channels) - 1 - tensor_scaled_tail
            blocks += [
                _ConvBlock(cin, cin, 3, bits, bits, stride=stride, groups=cin),
                _ConvBlock(cin, cout, 1, bits, bits, act_per_channel=not tail),
            ]
            cin = cout
        self.features = nn.Sequential(*blocks)
        pool = spatial // 2 // math.prod(strides)
        self.pool = qnn.TruncAvgPool2d(kernel_size=pool, stride=1, bit_width=bits, float_to_int_impl_type="FLOOR")
        self.output = qnn.QuantLinear(
            cin, num_classes, bias=True, bias_quant=Int32Bias,
            weight_quant=WeightPerTensor, weight_bit_width=bits,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(self.stem(x)))
        return self.output(x.view(x.size(0), -1))


def mobilenet_v1() -> MobileNetTiny:
    """MobileNet-v1 w4a4 at its real size (finn-examples ``mobilenetv1-w4a4``).

    ``brevitas_examples.imagenet_classification``'s ``quant_mobilenet_v1_4b``: 1x3x224x224
    UINT8 input, a 32-channel 3x3 stem conv with stride 2 (8-bit weights), 13
    depthwise-separable blocks 32->64 s1, 64->128 s2, 128->128, 128->256 s2, 256->256,
    256->512 s2, 5x 512->512, 512->1024 s2, 1024->1024 (4-bit weights and activations;
    per-tensor pointwise activation scales in the last stage), a 7x7 truncating average pool
    and a 4-bit 1024->1000 classifier with an int32 bias.
    """
    return MobileNetTiny(
        channels=(32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024),
        num_classes=1000,
        spatial=224,
        strides=(1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1),
        tensor_scaled_tail=2,
    )


# -- ResNet -----------------------------------------------------------------------------------


class _BasicBlock(nn.Module):
    """brevitas_examples.bnn_pynq's QuantBasicBlock: a ReLU on both add inputs (same sign)."""

    def __init__(self, cin: int, cout: int, stride: int, shared_act: nn.Module, bits: int) -> None:
        super().__init__()
        self.conv1 = _conv2d(cin, cout, 3, bits, stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = _relu(bits)
        self.conv2 = _conv2d(cout, cout, 3, bits)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = nn.Sequential()
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(_conv2d(cin, cout, 1, bits, stride), nn.BatchNorm2d(cout), _relu(bits))
            shared_act = self.downsample[-1]
        # the residual branch ends with the quantizer of the shortcut, so both add inputs share
        # one scale (FINN adds integers)
        self.relu2 = shared_act
        self.relu_out = _relu(bits)

    def forward(self, x: QuantTensor) -> QuantTensor:
        out = self.relu2(self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x))))))
        if len(self.downsample):
            x = self.downsample(x)
        return self.relu_out(out + x)


class ResNetTiny(nn.Module):
    """CIFAR ResNet w4a4 (finn-plus ``dut/resnet18.yml``, a ResNet-18 w3a3 for CIFAR-100).

    ``brevitas_examples.bnn_pynq.models.resnet.QuantResNet`` cut to its stem and one basic
    block with an identity shortcut: an 8-bit-weight 3x3 stem conv, the block (two 3x3 convs
    with a shared quantizer on both add inputs), a truncating global average pool and an
    8-bit QuantLinear with int32 bias. 4-bit weights and activations (not 3) so that FINN
    picks its RTL MVAUs by default. No input quantizer: the input is UINT8 pixels (annotated
    at export). 1x3x8x8 input, 8 channels.

    ``widths`` lists the blocks' output channels; a block that changes the width has stride 2
    and a 1x1 conv shortcut (as ResNet's first block of a stage). finn-plus's
    ``step_resnet_streamline`` is slow on every extra block (7 s for one block, 15 s for
    ``(8, 16)`` on two cores), hence a single block by default.
    """

    def __init__(self, widths: tuple[int, ...] = (8,), num_classes: int = 10, bits: int = 4,
                 spatial: int = 8) -> None:
        super().__init__()
        self.conv1 = _conv2d(3, widths[0], 3, wbits=8)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = _relu(bits)
        blocks: list[_BasicBlock] = []
        shared: nn.Module = self.relu
        cin = widths[0]
        for cout in widths:
            stride = 1 if cout == cin else 2
            blocks.append(_BasicBlock(cin, cout, stride, shared, bits))
            shared, cin, spatial = blocks[-1].relu_out, cout, spatial // stride
        self.layers = nn.Sequential(*blocks)
        self.pool = qnn.TruncAvgPool2d(kernel_size=spatial, trunc_quant=TruncTo8bit, float_to_int_impl_type="FLOOR")
        self.linear = qnn.QuantLinear(
            cin, num_classes, bias=True, bias_quant=Int32Bias,
            weight_quant=Int8WeightPerTensorFloat, weight_bit_width=8,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.pool(self.layers(self.relu(self.bn1(self.conv1(x)))))
        return self.linear(out.view(out.size(0), -1))


# -- 1D CNN -----------------------------------------------------------------------------------


class Conv1dTiny(nn.Module):
    """VGG10 for RadioML w4a4 (finn-examples ``radioml_w4a4_small``, finn-plus ``dut/vgg10.yml``).

    As the finn-examples training script: an 8-bit signed input quantizer on the I/Q samples,
    Conv1d(k=3, pad=1) + BatchNorm + 4-bit QuantReLU + MaxPool1d(2) layers, then two
    QuantLinear+BatchNorm+QuantReLU layers and a QuantLinear classifier with bias.
    Three conv layers instead of seven; 1x2x64 input instead of 1x2x1024.
    """

    def __init__(self, filters: int = 8, dense: int = 32, num_classes: int = 24, length: int = 64,
                 conv_layers: int = 3, bits: int = 4) -> None:
        super().__init__()
        layers: list[nn.Module] = [qnn.QuantIdentity(act_quant=IntAct, bit_width=8, return_quant_tensor=True)]
        cin = 2
        for _ in range(conv_layers):
            layers += [
                qnn.QuantConv1d(cin, filters, 3, padding=1, bias=False, weight_quant=WeightPerTensor,
                                weight_bit_width=bits),
                nn.BatchNorm1d(filters),
                _relu(bits),
                nn.MaxPool1d(2),
            ]
            cin = filters
        layers += [nn.Flatten()]
        features = filters * (length >> conv_layers)
        for fin in (features, dense):
            layers += [
                qnn.QuantLinear(fin, dense, bias=False, weight_quant=WeightPerTensor, weight_bit_width=bits),
                nn.BatchNorm1d(dense),
                _relu(bits),
            ]
        layers += [qnn.QuantLinear(dense, num_classes, bias=True, bias_quant=Int32Bias,
                                   weight_quant=WeightPerTensor, weight_bit_width=bits)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# -- MLPs -------------------------------------------------------------------------------------


class Mlp(nn.Module):
    """A quantized MLP: [input quantizer], (QuantLinear, BatchNorm1d, QuantReLU) x n, QuantLinear."""

    def __init__(self, features: int, hidden: tuple[int, ...], outputs: int, wbits: int, abits: int,
                 input_bits: int | None) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        if input_bits is not None:
            layers.append(qnn.QuantIdentity(act_quant=IntAct, bit_width=input_bits, return_quant_tensor=True))
        fin = features
        for width in hidden:
            layers += [
                qnn.QuantLinear(fin, width, bias=False, weight_quant=WeightPerTensor, weight_bit_width=wbits),
                nn.BatchNorm1d(width),
                _relu(abits),
            ]
            fin = width
        layers.append(qnn.QuantLinear(fin, outputs, bias=True, bias_quant=Int32Bias,
                                      weight_quant=WeightPerTensor, weight_bit_width=wbits))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def mlp_float() -> Mlp:
    """KWS MLP w3a3 (finn-examples ``kws``, finn-plus ``dut/kws.yml``).

    A float input (490 MFCC features there, 64 here) quantized by an 8-bit QuantIdentity,
    which FINN turns into a float-input Thresholding node; three hidden layers of 64 with
    3-bit weights and activations; 12 classes.
    """
    return Mlp(64, (64, 64, 64), 12, wbits=3, abits=3, input_bits=8)


def mlp_rtl() -> Mlp:
    """Cybersecurity MLP (finn-examples ``cybsec-mlp``, finn-plus ``dut/cybsec.yml``), w4a4.

    The UNSW-NB15 MLP (600 binary features, 3 hidden layers, 1 output; w2a2 there) with
    4-bit weights and activations and an INT8 integer input (annotated at export): FINN
    only picks ``MVAU_rtl`` by default for >= 4-bit signed weights and >= 4-bit inputs
    without embedded thresholds, so with ``standalone_thresholds`` every layer is an
    ``MVAU_rtl`` followed by a standalone ``Thresholding``. 64 features, hidden 64-64-64.
    """
    return Mlp(64, (64, 64, 64), 1, wbits=4, abits=4, input_bits=None)


#: The networks by name (the zoo's ``brevitas_name``: ``mobilenet-tiny`` is ``MobileNetTiny``);
#: each call builds a fresh module (seed torch first).
NETS: dict[str, Callable[[], nn.Module]] = {
    "MobileNetTiny": MobileNetTiny,
    "mobilenet_v1": mobilenet_v1,
    "ResNetTiny": ResNetTiny,
    "Conv1dTiny": Conv1dTiny,
    "mlp_float": mlp_float,
    "mlp_rtl": mlp_rtl,
}
