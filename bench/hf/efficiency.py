#!/usr/bin/env python3
"""Latency, peak memory and energy of Hugging Face models with torch, the founding study's way.

For each MODEL and batch size B it measures, in a fresh subprocess (so peak memory is per run):
  prefill  one forward pass over B sequences of --prompt-tokens random token ids;
  decode   --decode-tokens greedy steps with the KV cache after that prefill (one token per
           sequence per step); reported per step and as tokens/s (B tokens per step);
  each     --warmup untimed runs, then --repeats timed runs: median, quartiles, min, max.
Timing: torch.cuda.Event pairs on a GPU (synchronised), time.perf_counter on the CPU.
Peak memory: torch.cuda.max_memory_allocated (GPU; reset before the timed runs), else the peak
resident set size of the process (getrusage ru_maxrss; includes the Python interpreter and torch).
Energy (GPU only): NVML's total-energy counter (nvmlDeviceGetTotalEnergyConsumption, mJ, Volta and
later) read around the timed runs; where the GPU has none, the board power sampled every
--power-interval s (≥ 10 Hz) in a thread and integrated (trapezoids) over the timed runs — the
study's nvidia-smi method. Energy is per prefill / per decode step, divided by the repeats. On the
CPU energy is "unavailable" and is never estimated.
Batch sizes: --batch 1,4,max — "max" (GPU only) is the largest batch whose prefill + decode runs
without running out of memory, found by doubling then bisecting.

MODEL is
  DIR                        a Hugging Face directory: dense (plain transformers) or a
                             `lowrank export-hf` directory (loaded with trust_remote_code);
  synthetic:ARCH[:GAMMA]     a model of a catalog shape with generated weights (latency, memory and
                             energy do not depend on the values): ARCH = llama2-7b, smollm2-135m,
                             or a config.json path; GAMMA = a γ JSON from `lowrank plan` whose
                             layers/ranks become LowRankLinear modules (the export's modelling file,
                             examples/hf/modeling_lowrank.py); built directly on the device.

Output: one JSON document (--out, and a table on stdout) with the machine, torch/transformers
versions, settings and per (model, batch) figures. Run:

  python bench/hf/efficiency.py DENSE_DIR FACTORISED_DIR --device cpu --batch 1,4 --threads 2 --out eff.json
  python bench/hf/efficiency.py synthetic:llama2-7b synthetic:llama2-7b:g30.json --device cuda \\
      --dtype bfloat16 --batch 1,max --out eff-7b.json

(docs/interop.md: the commands, the GPU recipe and the measured figures.)
"""
import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODELING = os.path.join(ROOT, "examples", "hf")

# Catalog shapes for synthetic models (transformers config keys).
SHAPES = {
    "llama2-7b": dict(model_type="llama", vocab_size=32000, hidden_size=4096, intermediate_size=11008,
                      num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32,
                      max_position_embeddings=4096, rms_norm_eps=1e-5, tie_word_embeddings=False),
    "smollm2-135m": dict(model_type="llama", vocab_size=49152, hidden_size=576, intermediate_size=1536,
                         num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                         max_position_embeddings=8192, rms_norm_eps=1e-5, tie_word_embeddings=True,
                         rope_theta=100000.0),
}
ROLE_MODULE = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj", "o": "self_attn.o_proj",
               "gate": "mlp.gate_proj", "up": "mlp.up_proj", "down": "mlp.down_proj"}


def stats(xs):
    xs = sorted(xs)
    q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
    return {"median": statistics.median(xs), "q1": q[0], "q3": q[2], "min": xs[0], "max": xs[-1], "n": len(xs)}


# ------------------------------------------------------------------------------------ energy

class Energy:
    """NVML energy of one GPU over a window: the total-energy counter when the GPU has one, else
    power samples at `interval` s integrated with the trapezoid rule. CPU: unavailable."""

    def __init__(self, device, interval):
        self.kind, self.reason, self.handle, self.interval = "unavailable", "", None, interval
        if device.type != "cuda":
            self.reason = "CPU run: no energy counter is read and none is estimated"
            return
        try:
            import pynvml
            pynvml.nvmlInit()
            self.nvml = pynvml
            index = device.index if device.index is not None else 0
            visible = os.environ.get("CUDA_VISIBLE_DEVICES")
            if visible:
                index = int(visible.split(",")[index])
            self.handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        except Exception as e:  # no pynvml, no driver
            self.reason = "NVML unavailable: %s" % e
            return
        try:
            self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)
            self.kind = "nvml_total_energy_counter"
        except Exception:
            self.kind = "nvml_power_samples"

    def __enter__(self):
        self.joules = None
        if self.kind == "nvml_total_energy_counter":
            self.e0 = self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)
        elif self.kind == "nvml_power_samples":
            self.samples, self.stop = [], threading.Event()

            def sample():
                while not self.stop.is_set():
                    self.samples.append((time.perf_counter(), self.nvml.nvmlDeviceGetPowerUsage(self.handle) / 1000.0))
                    self.stop.wait(self.interval)
            self.thread = threading.Thread(target=sample, daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc):
        if self.kind == "nvml_total_energy_counter":
            self.joules = (self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle) - self.e0) / 1000.0
        elif self.kind == "nvml_power_samples":
            self.stop.set()
            self.thread.join()
            s = self.samples
            self.joules = sum((t1 - t0) * (p0 + p1) / 2 for (t0, p0), (t1, p1) in zip(s, s[1:])) if len(s) > 1 else None
            self.n_samples = len(s)
        return False


# ------------------------------------------------------------------------------------ models

def load_model(spec, device, dtype):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    if not spec.startswith("synthetic:"):
        cfg = AutoConfig.from_pretrained(spec, trust_remote_code=True)
        remote = hasattr(cfg, "lowrank")
        model = AutoModelForCausalLM.from_pretrained(spec, trust_remote_code=remote, dtype=dtype).to(device)
        return model.eval(), {"kind": "lowrank export" if remote else "dense", "path": os.path.abspath(spec)}
    _, arch, *rest = spec.split(":", 2)
    gamma_path = rest[0] if rest else None
    if arch in SHAPES:
        kw = dict(SHAPES[arch])
    else:
        with open(arch) as f:
            kw = json.load(f)
    from transformers import LlamaConfig
    kw.pop("model_type", None)
    config = LlamaConfig(**kw)
    modules = {}
    if gamma_path:
        with open(gamma_path) as f:
            g = json.load(f)
        base = 1 if g.get("indexing", 1) == 1 else 0
        pairs = [(l, t, r) for l in g.get("layers", []) for t, r in g.get("ranks", {}).items()]
        pairs += [(p["layer"], p["tensor"], p["rank"]) for p in g.get("pruned_ranks", [])]
        for layer, role, rank in pairs:
            modules["model.layers.%d.%s" % (layer - base, ROLE_MODULE[role])] = {"rank": int(rank), "core": False}
        config.lowrank = {"format": "lowrank.hf", "version": 1, "modules": modules}
    sys.path.insert(0, MODELING)
    import modeling_lowrank
    cls = modeling_lowrank.LowRankLlamaForCausalLM if modules else __import__("transformers").LlamaForCausalLM
    with torch.device("meta"):
        model = cls(config)
    model = model.to_empty(device=device).to(dtype)
    with torch.no_grad():  # generated weights: N(0, 0.02), norm gains 1
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.fill_(1.0)
            else:
                p.normal_(0.0, 0.02)
        for name, b in model.named_buffers():  # RoPE inv_freq lives on the meta device until recomputed
            if "inv_freq" in name:
                dim = config.hidden_size // config.num_attention_heads
                theta = getattr(config, "rope_theta", None) or config.rope_parameters.get("rope_theta", 10000.0)
                b.copy_(1.0 / (theta ** (torch.arange(0, dim, 2, device=device, dtype=torch.float32) / dim)))
    model.tie_weights()
    return model.eval(), {"kind": "synthetic", "arch": arch, "gamma": gamma_path, "factorised_linears": len(modules)}


# ------------------------------------------------------------------------------------ one run

def timer(device):
    import torch
    if device.type == "cuda":
        def run(fn):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize()
            a.record()
            out = fn()
            b.record()
            torch.cuda.synchronize()
            return a.elapsed_time(b) / 1000.0, out
    else:
        def run(fn):
            t = time.perf_counter()
            out = fn()
            return time.perf_counter() - t, out
    return run


def measure(args):
    """Measures one (model, batch) and prints its JSON on stdout (runs in a subprocess)."""
    import torch
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    t0 = time.perf_counter()
    model, info = load_model(args.model, device, dtype)
    load_s = time.perf_counter() - t0
    params = sum(p.numel() for p in model.parameters())
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    B, T, N = args.batch_size, args.prompt_tokens, args.decode_tokens
    g = torch.Generator(device="cpu").manual_seed(0)
    ids = torch.randint(0, model.config.vocab_size, (B, T), generator=g).to(device)
    run = timer(device)

    @torch.no_grad()
    def prefill():
        return model(input_ids=ids, use_cache=True)

    @torch.no_grad()
    def decode(out):
        past, nxt = out.past_key_values, out.logits[:, -1:].argmax(-1)
        for _ in range(N):
            o = model(input_ids=nxt, past_key_values=past, use_cache=True)
            past, nxt = o.past_key_values, o.logits[:, -1:].argmax(-1)
        return nxt

    for _ in range(args.warmup):
        decode(prefill())
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)
    energy = Energy(device, args.power_interval)
    pre, dec = [], []
    e_pre = e_dec = 0.0
    for _ in range(args.repeats):
        with energy as e1:
            s, out = run(prefill)
        pre.append(s)
        with energy as e2:
            s, _ = run(lambda: decode(out))
        dec.append(s / N)
        if e1.joules is not None and e2.joules is not None:
            e_pre, e_dec = e_pre + e1.joules, e_dec + e2.joules / N
        else:
            e_pre = e_dec = None
    res = {"model": args.model, "info": info, "batch": B, "prompt_tokens": T, "decode_tokens": N, "dtype": args.dtype,
           "device": str(device), "parameters": params, "weight_bytes": weight_bytes, "load_seconds": load_s,
           "prefill_seconds": stats(pre), "decode_seconds_per_step": stats(dec),
           "prefill_tokens_per_s": B * T / statistics.median(pre), "decode_tokens_per_s": B / statistics.median(dec)}
    if device.type == "cuda":
        res["peak_memory_bytes"] = torch.cuda.max_memory_allocated(device)
        res["peak_memory_what"] = "torch.cuda.max_memory_allocated over the timed runs (weights + activations + KV cache)"
    else:
        res["peak_memory_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        res["peak_memory_what"] = "peak RSS of the measuring process (getrusage; interpreter + torch + model + runs)"
    if e_pre is None or energy.kind == "unavailable":
        res["energy"] = {"method": energy.kind, "prefill_joules": "unavailable", "decode_joules_per_step": "unavailable",
                         "why": energy.reason or "no reading"}
    else:
        res["energy"] = {"method": energy.kind, "prefill_joules": e_pre / args.repeats,
                         "decode_joules_per_step": e_dec / args.repeats}
        if energy.kind == "nvml_power_samples":
            res["energy"]["interval_s"] = args.power_interval
    print(json.dumps(res))


def run_one(args, model, batch):
    """One measurement in a fresh process; None when it ran out of memory."""
    cmd = [sys.executable, os.path.abspath(__file__), "--one", "--model", model, "--batch-size", str(batch)]
    for k in ("device", "dtype", "prompt_tokens", "decode_tokens", "repeats", "warmup", "threads", "power_interval"):
        cmd += ["--" + k.replace("_", "-"), str(getattr(args, k))]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        if "OutOfMemoryError" in p.stderr or "out of memory" in p.stderr.lower():
            return None
        sys.exit("measurement failed (%s, batch %d):\n%s" % (model, batch, p.stderr[-4000:]))
    return json.loads(p.stdout.strip().splitlines()[-1])


def max_batch(args, model, cap):
    """Largest batch that runs (GPU): double until out of memory, then bisect."""
    lo, hi, best = 0, None, None
    b = 1
    while b <= cap:
        r = run_one(args, model, b)
        if r is None:
            hi = b
            break
        lo, best = b, r
        b *= 2
    if hi is None:
        return best
    while hi - lo > 1:
        mid = (lo + hi) // 2
        r = run_one(args, model, mid)
        if r is None:
            hi = mid
        else:
            lo, best = mid, r
    return best


def machine():
    import torch
    import transformers
    m = {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
         "platform": platform.platform(), "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
         "load_average": os.getloadavg()}
    try:
        with open("/proc/cpuinfo") as f:
            m["cpu"] = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    if torch.cuda.is_available():
        m["gpu"] = torch.cuda.get_device_name(0)
        m["cuda"] = torch.version.cuda
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__)
    ap.add_argument("models", nargs="*", help="HF directories or synthetic:ARCH[:GAMMA]")
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    ap.add_argument("--batch", default="1", help="comma-separated batch sizes; 'max' = the largest that fits (GPU)")
    ap.add_argument("--max-batch-cap", type=int, default=1024, help="upper bound of the 'max' search")
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--decode-tokens", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU: torch threads")
    ap.add_argument("--power-interval", type=float, default=0.05, help="NVML power sampling period, s (≤ 0.1)")
    ap.add_argument("--out", help="write the JSON here")
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--batch-size", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.power_interval > 0.1:
        ap.error("--power-interval must be ≤ 0.1 s (≥ 10 Hz)")
    if args.one:
        return measure(args)
    if not args.models:
        ap.error("give at least one MODEL")
    batches = [b for b in args.batch.split(",") if b]
    if "max" in batches and not args.device.startswith("cuda"):
        ap.error("--batch max needs a GPU (on the CPU give explicit batch sizes)")
    results = []
    for model in args.models:
        for b in batches:
            r = max_batch(args, model, args.max_batch_cap) if b == "max" else run_one(args, model, int(b))
            if r is None:
                sys.exit("%s: batch %s ran out of memory" % (model, b))
            r["batch_request"] = b
            results.append(r)
            print("%-50s B=%-4d prefill %8.1f ms  decode %7.2f ms/step  peak %7.0f MB  energy %s" % (
                model[-50:], r["batch"], 1e3 * r["prefill_seconds"]["median"], 1e3 * r["decode_seconds_per_step"]["median"],
                r["peak_memory_bytes"] / 1e6, r["energy"]["prefill_joules"] if r["energy"]["method"] == "unavailable"
                else "%.2f J prefill, %.3f J/step" % (r["energy"]["prefill_joules"], r["energy"]["decode_joules_per_step"])),
                flush=True)
    doc = {"schema": "lowrank.hf.efficiency", "version": 1, "machine": machine(), "command": sys.argv,
           "settings": {k: getattr(args, k) for k in ("device", "dtype", "batch", "prompt_tokens", "decode_tokens",
                                                      "repeats", "warmup", "threads", "power_interval")},
           "results": results}
    if args.out:
        with open(args.out + ".tmp", "w") as f:
            json.dump(doc, f, indent=1)
        os.replace(args.out + ".tmp", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
