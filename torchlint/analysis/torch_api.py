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
MODE_SENSITIVE_FUNCTIONS = frozenset({
    "torch.nn.functional.dropout", "torch.nn.functional.dropout1d", "torch.nn.functional.dropout2d",
    "torch.nn.functional.dropout3d", "torch.nn.functional.alpha_dropout", "torch.nn.functional.batch_norm",
})

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
