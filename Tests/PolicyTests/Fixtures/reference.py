#!/usr/bin/env python3
"""Independent reference for the policy's forward pass, in NumPy (float64),
written from the model's formulas (DeepSeek-V3's routing), not from the Swift code.

It reads a checkpoint folder (config.json + model.safetensors, parsed here by
hand), runs the token sequences in golden.json's "inputs", and writes the
logits and the per-token log-probabilities of the next tokens back into
golden.json. ModelGoldenTests compares the Swift forward with them.

The fixture model itself is written here too (random weights large enough
that every path matters, a non-zero selection bias, routed_scaling_factor 2.5),
so the Swift loader is also checked against a safetensors file it did not write.

A second fixture has grouped-query attention (4 query heads on 2 key/value
heads, each key/value head repeated for the query heads it serves).

Regenerate:
    F=Tests/PolicyTests/Fixtures
    python3 $F/reference.py --make-model $F/toy-model
    python3 $F/reference.py $F/toy-model $F/golden.json
    python3 $F/reference.py --make-model $F/toy-gqa-model --kv-heads 2
    python3 $F/reference.py $F/toy-gqa-model $F/golden-gqa.json
(golden-gqa.json starts as a copy of golden.json: the same "inputs".)
"""
import json, struct, sys
import numpy as np

def read_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", name
        b, e = info["data_offsets"]
        out[name] = np.frombuffer(raw[base + b:base + e], dtype="<f4").astype(np.float64).reshape(info["shape"])
    return out

def rmsnorm(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w

def rope(x, theta):
    # x: [T, H, hd]; rotate-half convention, element i pairs with i + hd/2.
    t, h, hd = x.shape
    half = hd // 2
    freq = theta ** (-2.0 * np.arange(half) / hd)
    ang = np.arange(t)[:, None] * freq[None, :]
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    x1, x2 = x[..., :half], x[..., half:]
    return np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], axis=-1)

def swiglu_mlp(x, gate, up, down):
    g, u = x @ gate.T, x @ up.T
    return (g / (1 + np.exp(-g)) * u) @ down.T

def forward(W, cfg, tokens):
    D, H, hd = cfg["hidden_size"], cfg["num_attention_heads"], cfg["head_dim"]
    Hkv = cfg.get("num_key_value_heads", H)
    E, K, L = cfg["n_routed_experts"], cfg["num_experts_per_tok"], cfg["num_hidden_layers"]
    eps, rsf = cfg["rms_norm_eps"], cfg["routed_scaling_factor"]
    T = len(tokens)
    x = W["model.embed_tokens.weight"][tokens]
    for l in range(L):
        p = f"model.layers.{l}."
        h = rmsnorm(x, W[p + "input_layernorm.weight"], eps)
        q = rope((h @ W[p + "self_attn.q_proj.weight"].T).reshape(T, H, hd), cfg["rope_theta"])
        k = rope((h @ W[p + "self_attn.k_proj.weight"].T).reshape(T, Hkv, hd), cfg["rope_theta"])
        v = (h @ W[p + "self_attn.v_proj.weight"].T).reshape(T, Hkv, hd)
        # Query head i reads key/value head i // (H / Hkv).
        k, v = np.repeat(k, H // Hkv, axis=1), np.repeat(v, H // Hkv, axis=1)
        scores = np.einsum("thd,shd->hts", q, k) / np.sqrt(hd)
        scores = np.where(np.tril(np.ones((T, T), bool))[None], scores, -np.inf)
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        att = np.einsum("hts,shd->thd", probs, v).reshape(T, D)
        x = x + att @ W[p + "self_attn.o_proj.weight"].T

        h = rmsnorm(x, W[p + "post_attention_layernorm.weight"], eps)
        out = np.zeros_like(h)
        if cfg["n_shared_experts"] > 0:
            s = p + "mlp.shared_experts."
            out += swiglu_mlp(h, W[s + "gate_proj.weight"], W[s + "up_proj.weight"], W[s + "down_proj.weight"])
        logits = h @ W[p + "mlp.gate.weight"].T
        if cfg["scoring_func"] == "sigmoid":
            sc = 1 / (1 + np.exp(-logits))
        else:
            sc = np.exp(logits - logits.max(-1, keepdims=True)); sc /= sc.sum(-1, keepdims=True)
        sel = sc + W[p + "mlp.gate.e_score_correction_bias"]
        for t in range(T):
            chosen = sorted(range(E), key=lambda i: (-sel[t, i], i))[:K]
            z = sum(sc[t, i] for i in chosen)
            for i in chosen:
                g = (sc[t, i] / z if cfg["norm_topk_prob"] else sc[t, i]) * rsf
                e = p + f"mlp.experts.{i}."
                out[t] += g * swiglu_mlp(h[t:t + 1], W[e + "gate_proj.weight"], W[e + "up_proj.weight"], W[e + "down_proj.weight"])[0]
        x = x + out
    x = rmsnorm(x, W["model.norm.weight"], eps)
    return x @ W["lm_head.weight"].T

def main(model_dir, golden_path):
    cfg = json.load(open(f"{model_dir}/config.json"))
    W = read_safetensors(f"{model_dir}/model.safetensors")
    golden = json.load(open(golden_path))
    golden["cases"] = []
    for tokens in golden["inputs"]:
        logits = forward(W, cfg, np.array(tokens))
        lse = np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1)) + logits.max(-1)
        logp = [float(logits[t, tokens[t + 1]] - lse[t]) for t in range(len(tokens) - 1)]
        golden["cases"].append({"tokens": tokens, "logits": logits.tolist(), "next_token_logprobs": logp})
    json.dump(golden, open(golden_path, "w"))

def make_model(model_dir, kv_heads=None):
    import os
    cfg = {"model_type": "swift_grpo_moe", "vocab_size": 259, "hidden_size": 16, "num_hidden_layers": 2,
           "num_attention_heads": 2, "head_dim": 8, "moe_intermediate_size": 12, "n_routed_experts": 4,
           "n_shared_experts": 1, "num_experts_per_tok": 2, "routed_scaling_factor": 2.5, "scoring_func": "sigmoid",
           "norm_topk_prob": True, "rope_theta": 10000.0, "rms_norm_eps": 1e-6, "max_position_embeddings": 64}
    Dkv = 16
    if kv_heads is not None:
        cfg.update(num_attention_heads=4, head_dim=4, num_key_value_heads=kv_heads)
        Dkv = kv_heads * 4
    rng = np.random.default_rng(11 if kv_heads is None else 12)
    D, I, E, V = 16, 12, 4, 259
    tensors = [("model.embed_tokens.weight", rng.normal(0, 1.0, (V, D)))]
    for l in range(2):
        p = f"model.layers.{l}."
        tensors.append((p + "input_layernorm.weight", 1 + rng.normal(0, 0.2, D)))
        for n in "qkvo":
            rows = Dkv if n in "kv" else D
            tensors.append((p + f"self_attn.{n}_proj.weight", rng.normal(0, 0.4, (rows, D))))
        tensors.append((p + "post_attention_layernorm.weight", 1 + rng.normal(0, 0.2, D)))
        tensors.append((p + "mlp.gate.weight", rng.normal(0, 0.8, (E, D))))
        tensors.append((p + "mlp.gate.e_score_correction_bias", rng.normal(0, 0.1, E)))
        for e in [f"mlp.experts.{i}." for i in range(E)] + ["mlp.shared_experts."]:
            tensors.append((p + e + "gate_proj.weight", rng.normal(0, 0.4, (I, D))))
            tensors.append((p + e + "up_proj.weight", rng.normal(0, 0.4, (I, D))))
            tensors.append((p + e + "down_proj.weight", rng.normal(0, 0.4, (D, I))))
    tensors.append(("model.norm.weight", 1 + rng.normal(0, 0.2, D)))
    tensors.append(("lm_head.weight", rng.normal(0, 0.5, (V, D))))
    header, blobs, offset = {}, [], 0
    for name, a in tensors:
        b = np.asarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(np.shape(a)), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b); offset += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    os.makedirs(model_dir, exist_ok=True)
    with open(f"{model_dir}/model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    json.dump(cfg, open(f"{model_dir}/config.json", "w"), indent=2)

if __name__ == "__main__":
    if sys.argv[1] == "--make-model":
        make_model(sys.argv[2], int(sys.argv[4]) if sys.argv[3:4] == ["--kv-heads"] else None)
    else:
        main(sys.argv[1], sys.argv[2])
