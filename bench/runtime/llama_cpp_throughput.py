#!/usr/bin/env python3
"""llama.cpp's prefill/decode throughput on a GGUF, measured the way `lowrank bench-model`
measures ours (batch 1): P random prompt tokens, then D single-token decode steps; a warm-up run,
then the median of R runs. Prints one JSON document. The baseline row of docs/runtime.md's
throughput table.

  pip install llama-cpp-python==0.3.36 numpy   (builds llama.cpp from source, ~10 min on 2 cores)
  On a CPU that reports AMX (Sapphire Rapids VMs) the native build's AMX path crashed in the first
  decode here (2026-12-05); build without it:
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=ON
  -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF
  -DGGML_AMX_BF16=OFF" pip install --no-cache-dir llama-cpp-python==0.3.36
  python3 bench/runtime/llama_cpp_throughput.py MODEL.gguf [--threads 2] [--prompt-tokens 128]
      [--decode-tokens 16] [--repeats 3]
"""
import argparse
import json
import random
import statistics
import time

import llama_cpp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--decode-tokens", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    llm = llama_cpp.Llama(model_path=a.model, n_ctx=a.prompt_tokens + a.decode_tokens + 8, n_threads=a.threads,
                          n_threads_batch=a.threads, n_batch=a.prompt_tokens, logits_all=False, verbose=False)
    rng = random.Random(0)
    prompt = [rng.randrange(llm.n_vocab()) for _ in range(a.prompt_tokens)]
    prefill, decode = [], []
    for run in range(a.repeats + 1):  # run 0 is the warm-up
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(prompt)
        t1 = time.perf_counter()
        for i in range(a.decode_tokens):
            llm.eval([prompt[i]])
        t2 = time.perf_counter()
        if run:
            prefill.append(t1 - t0)
            decode.append((t2 - t1) / a.decode_tokens)
    print(json.dumps({"reference": "llama-cpp-python " + llama_cpp.__version__, "model": a.model,
                      "threads": a.threads, "prompt_tokens": a.prompt_tokens, "decode_tokens": a.decode_tokens,
                      "prefill_tokens_per_s": a.prompt_tokens / statistics.median(prefill),
                      "decode_ms_per_token": 1e3 * statistics.median(decode),
                      "prefill_seconds": prefill, "decode_seconds_per_token": decode}, indent=2))


if __name__ == "__main__":
    main()
