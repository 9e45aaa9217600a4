#!/usr/bin/env python3
# Research helper for issue 15: every layer of the frozen MiniLM (all-MiniLM-L6-v2), not just the sentence embedding.
# The router's frozen features are the mean-pooled, L2-normalised last layer (what sentence-transformers trained for
# semantic similarity); earlier layers and other poolings of the same encoder pass may keep surface features (a style
# tag, an artist's name) that the sentence embedding blurs. A numpy forward pass of the BERT encoder (weights read
# from model.safetensors, tokens from the HF `tokenizers` library with the model's tokenizer.json), writing an .npz
# with, per prompt: `mean<L>` the masked mean of layer L's hidden states (L = 0 is the embedding output, 6 the last)
# and `max6` / `cls6` the masked max / [CLS] of the last layer, all L2-normalised. `mean6` is the router's embedding:
# the script checks it against `catimage embed`'s output when given one (--check), so a wrong forward pass is caught.
#
# Needs numpy + tokenizers (the anchor's venv has both: ~/.cache/catimage/anchor-venv/bin/python).
# usage: minilm_layers.py --prompts prompts.jsonl --output layers.npz [--model-dir DIR] [--check embed.npy]
import argparse, json, os, struct, time
import numpy as np
from tokenizers import Tokenizer

ap = argparse.ArgumentParser()
ap.add_argument('--prompts', required=True, help='.jsonl with a "prompt" field per line')
ap.add_argument('--output', required=True)
ap.add_argument('--model-dir', default=os.path.expanduser('~/.cache/catimage/models/all-MiniLM-L6-v2'))
ap.add_argument('--check', help='catimage embed output (.npy) for the same prompts: mean6 must match it')
ap.add_argument('--batch', type=int, default=64)
a = ap.parse_args()


def safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]; header = json.loads(f.read(n)); data = f.read()
    out = {}
    for name, t in header.items():
        if name == '__metadata__' or t['dtype'] != 'F32': continue
        lo, hi = t['data_offsets']; out[name] = np.frombuffer(data[lo:hi], np.float32).reshape(t['shape'])
    return out


W = safetensors(os.path.join(a.model_dir, 'model.safetensors'))
config = json.load(open(os.path.join(a.model_dir, 'config.json')))
H, heads, layers = config['hidden_size'], config['num_attention_heads'], config['num_hidden_layers']
eps = config['layer_norm_eps']


def layer_norm(x, p):
    mu = x.mean(-1, keepdims=True); var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * W[p + '.weight'] + W[p + '.bias']


def erf(x):  # Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7, below float32's resolution at the scale of gelu's inputs)
    s = np.sign(x); x = np.abs(x); t = 1 / (1 + 0.3275911 * x)
    y = 1 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * np.exp(-x * x)
    return s * y


def dense(x, p):
    return x @ W[p + '.weight'].T + W[p + '.bias']


def forward(ids, mask):
    """Hidden states of every layer [layers + 1] × [B, T, H] for token ids [B, T] with attention mask [B, T]."""
    B, T = ids.shape
    x = W['embeddings.word_embeddings.weight'][ids] + W['embeddings.position_embeddings.weight'][:T] \
        + W['embeddings.token_type_embeddings.weight'][0]
    x = layer_norm(x, 'embeddings.LayerNorm'); states = [x]
    bias = np.where(mask[:, None, None, :] > 0, 0.0, -1e9).astype(np.float32)
    d = H // heads
    for i in range(layers):
        p = f'encoder.layer.{i}.'
        q, k, v = (dense(x, p + f'attention.self.{n}').reshape(B, T, heads, d).transpose(0, 2, 1, 3)
                   for n in ('query', 'key', 'value'))
        s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d) + bias
        s = np.exp(s - s.max(-1, keepdims=True)); s /= s.sum(-1, keepdims=True)
        c = (s @ v).transpose(0, 2, 1, 3).reshape(B, T, H)
        x = layer_norm(dense(c, p + 'attention.output.dense') + x, p + 'attention.output.LayerNorm')
        u = dense(x, p + 'intermediate.dense'); u = 0.5 * u * (1 + erf(u / np.sqrt(2)))
        x = layer_norm(dense(u, p + 'output.dense') + x, p + 'output.LayerNorm'); states.append(x)
    return states


def normalise(v):
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


prompts = [json.loads(line)['prompt'] for line in open(a.prompts, encoding='utf-8') if line.strip()]
tok = Tokenizer.from_file(os.path.join(a.model_dir, 'tokenizer.json')); tok.enable_truncation(256); tok.no_padding()
encodings = tok.encode_batch(prompts)
order = np.argsort([len(e.ids) for e in encodings], kind='stable')
out = {f'mean{l}': np.zeros((len(prompts), H), np.float32) for l in range(layers + 1)}
out.update({'max6': np.zeros((len(prompts), H), np.float32), 'cls6': np.zeros((len(prompts), H), np.float32)})
start = time.time()
for b in range(0, len(prompts), a.batch):
    rows = order[b:b + a.batch]; T = max(len(encodings[r].ids) for r in rows)
    ids = np.zeros((len(rows), T), np.int64); mask = np.zeros((len(rows), T), np.float32)
    for i, r in enumerate(rows):
        n = len(encodings[r].ids); ids[i, :n] = encodings[r].ids; mask[i, :n] = 1
    states = forward(ids, mask); m = mask[..., None]
    for l, h in enumerate(states): out[f'mean{l}'][rows] = normalise((h * m).sum(1) / m.sum(1))
    out['max6'][rows] = normalise(np.where(m > 0, states[-1], -np.inf).max(1))
    out['cls6'][rows] = normalise(states[-1][:, 0])
print(f'{len(prompts)} prompts in {time.time() - start:.0f} s')
if a.check:
    ref = np.load(a.check); diff = np.abs(ref - out[f'mean{layers}']).max()
    print(f'mean{layers} against {a.check}: max |difference| {diff:.2e}')
    assert diff < 1e-3, 'the numpy forward pass disagrees with catimage embed'
np.savez(a.output, **out)
