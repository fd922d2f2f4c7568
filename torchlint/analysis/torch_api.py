"""What torchlint knows about the PyTorch API and the frameworks around it: names, not logic."""

from __future__ import annotations

from typing import Optional

# torch.nn modules that own parameters (or, for batch norm, trained running statistics).
PARAMETERISED_LAYERS = frozenset({
    "Linear", "Bilinear", "LazyLinear",
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
    "LazyConv1d", "LazyConv2d", "LazyConv3d", "LazyConvTranspose1d", "LazyConvTranspose2d", "LazyConvTranspose3d",
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d",
    "SyncBatchNorm", "GroupNorm", "LayerNorm", "RMSNorm",
    "Embedding", "EmbeddingBag",
    "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell",
    "MultiheadAttention", "Transformer", "TransformerEncoder", "TransformerDecoder",
    "TransformerEncoderLayer", "TransformerDecoderLayer", "PReLU",
})
# Constructor keywords that, set to False, leave these layers without parameters.
PARAMETERLESS_WHEN_FALSE = {"affine", "elementwise_affine"}
# InstanceNorm has parameters only with affine=True.
PARAMETERISED_ONLY_WHEN_AFFINE = frozenset({"InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"})
PARAMETER_CONSTRUCTORS = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter"})

# Layers whose behaviour differs between train() and eval().
MODE_SENSITIVE_LAYERS = frozenset({
    "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout",
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d",
    "SyncBatchNorm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d",
    "Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer",
    "TransformerDecoderLayer", "MultiheadAttention", "RNN", "LSTM", "GRU",
})
# Recurrent layers apply their ``dropout`` only between stacked layers, and it defaults to 0:
# an LSTM without ``dropout=`` or with one layer computes the same in both modes.
RECURRENT_LAYERS = {"RNN": (2, 5), "LSTM": (2, 5), "GRU": (2, 5)}  # positions of num_layers, dropout
# Layers whose ``dropout`` defaults to a non-zero value, and its position.
DROPOUT_BY_DEFAULT = {"Transformer": 7, "TransformerEncoderLayer": 3, "TransformerDecoderLayer": 3}
# Layers whose ``dropout`` defaults to 0, and its position.
DROPOUT_OFF_BY_DEFAULT = {"MultiheadAttention": 2}
# torchvision's model builders: every architecture there holds batch norm or dropout.
MODE_SENSITIVE_MODEL_ZOOS = ("torchvision.models.",)
# Functional forms, with the position of their ``training`` argument: they follow the mode only
# when it is passed (``training=self.training``); F.dropout defaults to on in both modes.
MODE_SENSITIVE_FUNCTIONS = {
    "torch.nn.functional.dropout": 2, "torch.nn.functional.dropout1d": 2, "torch.nn.functional.dropout2d": 2,
    "torch.nn.functional.dropout3d": 2, "torch.nn.functional.alpha_dropout": 2, "torch.nn.functional.batch_norm": 5,
}

SOFTMAX_FUNCTIONS = frozenset({"torch.nn.functional.softmax", "torch.softmax", "torch.special.softmax"})
SOFTMAX_MODULES = frozenset({"torch.nn.Softmax", "torch.nn.modules.activation.Softmax"})
CROSS_ENTROPY_FUNCTIONS = frozenset({"torch.nn.functional.cross_entropy"})
CROSS_ENTROPY_MODULES = frozenset({"torch.nn.CrossEntropyLoss", "torch.nn.modules.loss.CrossEntropyLoss"})
SEQUENTIAL = frozenset({"torch.nn.Sequential", "torch.nn.modules.container.Sequential"})

# Context managers (and decorators) under which no graph is recorded: evaluation code.
GRAD_DISABLING = frozenset({
    "torch.no_grad", "torch.inference_mode", "torch.autograd.no_grad", "torch.autograd.inference_mode",
    "torch.autograd.grad_mode.no_grad", "torch.autograd.grad_mode.inference_mode",
})
GRAD_MODE_SETTER = frozenset({"torch.set_grad_enabled", "torch.autograd.set_grad_enabled"})

# Classes whose subclasses are nn.Modules.
MODULE_BASE_PREFIXES = ("torch.nn.",)
FRAMEWORK_MODULE_BASES = frozenset({
    "lightning.LightningModule", "lightning.pytorch.LightningModule", "pytorch_lightning.LightningModule",
    "lightning.pytorch.core.LightningModule", "pytorch_lightning.core.LightningModule",
    "transformers.PreTrainedModel", "transformers.modeling_utils.PreTrainedModel",
})
# Standard-library modules whose classes, used as bases, bring no layers (``abc.ABC``, ``typing.Generic``).
PLAIN_BASE_MODULES = ("abc.", "typing.", "typing_extensions.", "collections.", "enum.", "dataclasses.")
TEST_CASE_BASES = frozenset({"unittest.TestCase", "unittest.case.TestCase", "torch.testing._internal.common_utils.TestCase"})
# Deep-learning frameworks other than PyTorch: a file that imports one of these and not torch is
# not PyTorch code (MXNet overwrites gradients on each backward; Keras passes ``training=False``).
OTHER_FRAMEWORKS = frozenset({"mxnet", "tensorflow", "keras", "jax", "flax", "paddle", "mindspore", "oneflow", "chainer", "theano"})
# Top-level packages whose import makes a file PyTorch code.
TORCH_PACKAGES = frozenset({"torch", "torchvision", "torchaudio", "torchtext", "lightning", "pytorch_lightning", "timm", "torch_geometric"})

# Classes whose subclasses' hooks are driven by a framework that sets train/eval mode and
# clears gradients itself (Lightning calls model.eval() before validation_step, say).
FRAMEWORK_DRIVEN_BASES = frozenset({
    "lightning.LightningModule", "lightning.pytorch.LightningModule", "pytorch_lightning.LightningModule",
    "lightning.pytorch.core.LightningModule", "pytorch_lightning.core.LightningModule",
    "transformers.Trainer", "transformers.trainer.Trainer", "transformers.Seq2SeqTrainer",
})

OPTIMIZER_PREFIXES = ("torch.optim.", "transformers.AdamW", "transformers.Adafactor", "bitsandbytes.optim.",
                      "apex.optimizers.", "timm.optim.", "torch_optimizer.")
NOT_OPTIMIZER_PREFIXES = ("torch.optim.lr_scheduler.", "torch.optim.swa_utils.")
GRAD_SCALERS = frozenset({"torch.cuda.amp.GradScaler", "torch.amp.GradScaler", "torch.cpu.amp.GradScaler"})


def torch_nn_class(qualified_name: Optional[str]) -> Optional[str]:
    """``torch.nn.Linear`` and ``torch.nn.modules.linear.Linear`` -> ``Linear``; anything else None."""
    if not qualified_name or not qualified_name.startswith("torch.nn."):
        return None
    last = qualified_name.rsplit(".", 1)[1]
    return last if last[:1].isupper() else None


def is_optimizer_class(qualified_name: Optional[str]) -> bool:
    return bool(qualified_name) and qualified_name.startswith(OPTIMIZER_PREFIXES) and not qualified_name.startswith(NOT_OPTIMIZER_PREFIXES)

