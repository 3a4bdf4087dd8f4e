# modeling_lowrank.py: the modelling code of a Hugging Face directory written by
# `lowrank export-hf` (the lowrank project; format described in its docs/interop.md).
#
# The stock transformers classes (LlamaForCausalLM, Qwen2ForCausalLM, BertModel) with every
# linear layer that lowrank factorised replaced by a LowRankLinear:
#
#     y = U (C (V x)) + b        V: lowrank_v.weight    [r, in]
#                                C: lowrank_core.weight [r, r]   (only when the core is kept)
#                                U: lowrank_u.weight    [out, r]
#                                b: bias                [out]    (the original bias, if any)
#
# The dense weight W ≈ U·C·V is never formed: the factorised layers are built in __init__ in
# place of the dense nn.Linear, so from_pretrained (which in transformers ≥ 4.4x/5 builds the
# model on the meta device) allocates and loads only the factors. Which modules are
# factorised, at what rank and in which form, is read from config.json's "lowrank" key:
#
#     "lowrank": {"format": "lowrank.hf", "version": 1,
#                 "modules": {"model.layers.3.self_attn.q_proj": {"rank": 64, "core": false}, ...}, ...}
#
# (module names as in the model class that auto_map names). Load with
#     AutoModelForCausalLM.from_pretrained(DIR, trust_remote_code=True)   # Llama / Qwen2
#     AutoModel.from_pretrained(DIR, trust_remote_code=True)              # BERT
# save_pretrained writes the same tensors, config and this file again.
#
# Only torch and transformers are needed. Errors name the module and what was expected.
import torch
from torch import nn
from transformers import BertModel, LlamaForCausalLM, Qwen2ForCausalLM

LOWRANK_FORMAT = "lowrank.hf"
LOWRANK_VERSION = 1


class LowRankLinear(nn.Module):
    """A linear layer stored as two (or three) thin factors: y = U (C (V x)) + b."""

    def __init__(self, in_features, out_features, rank, bias=True, core=False, device=None, dtype=None):
        super().__init__()
        if not (0 < rank <= min(in_features, out_features)):
            raise ValueError("LowRankLinear: rank %d outside 1..min(%d, %d)" % (rank, out_features, in_features))
        kw = {"device": device, "dtype": dtype}
        self.in_features, self.out_features, self.rank = in_features, out_features, rank
        self.lowrank_v = nn.Linear(in_features, rank, bias=False, **kw)
        self.lowrank_core = nn.Linear(rank, rank, bias=False, **kw) if core else None
        self.lowrank_u = nn.Linear(rank, out_features, bias=False, **kw)
        self.bias = nn.Parameter(torch.empty(out_features, **kw)) if bias else None

    def forward(self, x):
        h = self.lowrank_v(x)
        if self.lowrank_core is not None:
            h = self.lowrank_core(h)
        return nn.functional.linear(h, self.lowrank_u.weight, self.bias)

    def extra_repr(self):
        return "in_features=%d, out_features=%d, rank=%d, core=%s, bias=%s" % (
            self.in_features, self.out_features, self.rank, self.lowrank_core is not None, self.bias is not None)


def lowrank_modules(config):
    """{module name: spec} from config.lowrank, checked; ValueError naming what is wrong."""
    spec = getattr(config, "lowrank", None)
    if not isinstance(spec, dict):
        raise ValueError("config.json has no 'lowrank' object: not a lowrank export")
    if spec.get("format") != LOWRANK_FORMAT or spec.get("version") != LOWRANK_VERSION:
        raise ValueError("config.json 'lowrank': format %r version %r, this modelling file reads %r version %d"
                         % (spec.get("format"), spec.get("version"), LOWRANK_FORMAT, LOWRANK_VERSION))
    modules = spec.get("modules")
    if not isinstance(modules, dict):
        raise ValueError("config.json 'lowrank.modules' is not an object")
    return modules


def replace_factorised_linears(model, config):
    """Swaps each nn.Linear that config.lowrank lists for a LowRankLinear of the same shape
    (on the same device and dtype: the meta device inside from_pretrained)."""
    for name, m in lowrank_modules(config).items():
        parent_name, _, child = name.rpartition(".")
        try:
            parent = model.get_submodule(parent_name) if parent_name else model
            old = getattr(parent, child)
        except AttributeError:
            raise ValueError("config.json 'lowrank.modules': %r is not a module of %s" % (name, type(model).__name__))
        if not isinstance(old, nn.Linear):
            raise ValueError("config.json 'lowrank.modules': %r is a %s, not a Linear" % (name, type(old).__name__))
        rank = m.get("rank") if isinstance(m, dict) else None
        if not isinstance(rank, int) or not 0 < rank <= min(old.in_features, old.out_features):
            raise ValueError("config.json 'lowrank.modules': %r has rank %r, outside 1..%d"
                             % (name, rank, min(old.in_features, old.out_features)))
        setattr(parent, child, LowRankLinear(old.in_features, old.out_features, rank, bias=old.bias is not None,
                                             core=bool(m.get("core", False)), device=old.weight.device,
                                             dtype=old.weight.dtype))


class LowRankLlamaForCausalLM(LlamaForCausalLM):
    def __init__(self, config, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        replace_factorised_linears(self, config)


class LowRankQwen2ForCausalLM(Qwen2ForCausalLM):
    def __init__(self, config, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        replace_factorised_linears(self, config)


class LowRankBertModel(BertModel):
    def __init__(self, config, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        replace_factorised_linears(self, config)
