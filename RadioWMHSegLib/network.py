"""The 3D V-Net with attention gates (after Milletari et al. 2016 and Oktay et al. 2018).

V-Net: residual convolution stages, strided 2x2x2 down-convolutions instead of pooling,
transposed up-convolutions, dropout in the deep stages. Attention gates: each skip connection is
weighted by a map computed from the coarser decoder features, so that the decoder listens to the
encoder only where the lesion context says it should. Sized for the CPU: the default widths keep
one forward pass over the 160x192x160 MNI crop under 10 s on two cores (see docs/benchmarks.md).
"""

import torch
from monai.networks.blocks import Convolution
from torch import nn

DEFAULT_CHANNELS = (8, 16, 32, 64, 128)
DEFAULT_CONVS = (1, 2, 2, 2, 2)


def _conv(in_ch, out_ch, kernel=3, stride=1, act=True, transposed=False):
    return Convolution(
        spatial_dims=3,
        in_channels=in_ch,
        out_channels=out_ch,
        kernel_size=kernel,
        strides=stride,
        act="PRELU" if act else None,
        norm="INSTANCE",
        is_transposed=transposed,
        padding=0 if kernel == 2 else None,
        output_padding=0 if transposed else None,
    )


class ResidualStage(nn.Module):
    """n 3x3x3 convolutions whose sum with the stage input is the output (V-Net's residual stage)."""

    def __init__(self, in_ch, out_ch, n_convs, dropout=0.0):
        super().__init__()
        layers = [_conv(in_ch, out_ch)]
        layers += [_conv(out_ch, out_ch) for _ in range(n_convs - 1)]
        self.convs = nn.Sequential(*layers)
        self.skip = nn.Identity() if in_ch == out_ch else nn.Conv3d(in_ch, out_ch, 1)
        self.dropout = nn.Dropout3d(dropout) if dropout > 0 else nn.Identity()
        self.act = nn.PReLU()

    def forward(self, x):
        return self.act(self.dropout(self.convs(x)) + self.skip(x))


class AttentionGate(nn.Module):
    """Additive attention: skip features x are scaled by sigmoid(psi(relu(Wx x + Wg g)))."""

    def __init__(self, skip_ch, gate_ch, inter_ch):
        super().__init__()
        self.w_x = nn.Conv3d(skip_ch, inter_ch, 1, bias=False)
        self.w_g = nn.Conv3d(gate_ch, inter_ch, 1, bias=True)
        self.psi = nn.Conv3d(inter_ch, 1, 1, bias=True)

    def forward(self, x, g):
        attention = torch.sigmoid(self.psi(torch.relu(self.w_x(x) + self.w_g(g))))
        return x * attention


class AttentionVNet(nn.Module):
    """V-Net with attention-gated skips. Input (B, 1, D, H, W) with sides divisible by 2**(levels-1)."""

    def __init__(self, in_channels=1, out_channels=2, channels=DEFAULT_CHANNELS, convs=DEFAULT_CONVS, dropout=0.0):
        super().__init__()
        if len(channels) != len(convs):
            raise ValueError("channels and convs must have one entry per level")
        self.config = {
            "in_channels": in_channels,
            "out_channels": out_channels,
            "channels": list(channels),
            "convs": list(convs),
            "dropout": dropout,
        }
        levels = len(channels)
        self.input_stage = ResidualStage(in_channels, channels[0], convs[0])
        self.down = nn.ModuleList()
        self.encoder = nn.ModuleList()
        for i in range(1, levels):
            self.down.append(_conv(channels[i - 1], channels[i], kernel=2, stride=2))
            # Dropout in the two deepest stages, where V-Net puts it.
            stage_dropout = dropout if i >= levels - 2 else 0.0
            self.encoder.append(ResidualStage(channels[i], channels[i], convs[i], stage_dropout))
        self.up = nn.ModuleList()
        self.gates = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for i in range(levels - 1, 0, -1):
            self.up.append(_conv(channels[i], channels[i - 1], kernel=2, stride=2, transposed=True))
            self.gates.append(AttentionGate(channels[i - 1], channels[i - 1], max(channels[i - 1] // 2, 4)))
            stage_dropout = dropout if i >= levels - 1 else 0.0
            self.decoder.append(ResidualStage(2 * channels[i - 1], channels[i - 1], convs[i - 1], stage_dropout))
        # The final three layers (last decoder stage, its gate and the output convolution) are what
        # the 'last' fine-tuning strategy re-initialises: see last_layers().
        self.output = nn.Conv3d(channels[0], out_channels, 1)

    def forward(self, x):
        skips = []
        x = self.input_stage(x)
        for down, stage in zip(self.down, self.encoder):
            skips.append(x)
            x = stage(down(x))
        for up, gate, stage, skip in zip(self.up, self.gates, self.decoder, reversed(skips)):
            g = up(x)
            x = stage(torch.cat([gate(skip, g), g], dim=1))
        return self.output(x)

    def encoder_modules(self):
        """The contracting path, frozen by the 'decoder' fine-tuning strategy."""
        return [self.input_stage, self.down, self.encoder]

    def last_layers(self):
        """The three final layers, re-initialised and trained alone by the 'last' strategy."""
        return [self.gates[-1], self.decoder[-1], self.output]
