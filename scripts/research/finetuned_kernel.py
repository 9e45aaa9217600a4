#!/usr/bin/env python3
# Research prototype for issue 15: the similarity kernel and krr on the *fine-tuned* encoder's embeddings. A
# two-pass router (fine-tuned MiniLM + frozen members) already computes the fine-tuned pooled vector of the prompt;
# kernel or krr members on it would cost a similarity row, not a third pass. One split only (a fine-tune costs 10-20
# minutes): the first of the prototypes' 5 parts (the order and seed of lowrank.py) as the test part.
# Steps: (1) write the training part as a long CSV and fine-tune on it with catimage:
#   scripts/research/finetuned_kernel.py split DATA --out DIR      (DIR/train.csv, DIR/test_idx.npy, DIR/train_idx.npy)
#   (cd DIR && catimage train --csv train.csv --id-column prompt_id --prompt-column prompt --generator-column model \
#       --quality-column quality --cost-column cost --estimator transformer:target=relative:epochs=4 --budget 0.3 \
#       -o ft.catimage)
# (2) scripts/research/finetuned_kernel.py compare DATA --out DIR --embeddings E.npy --layers L.npz: writes the fine-tuned
#   encoder as a model folder (DIR/encoder), embeds every prompt with it (catimage embed), takes the transformer's
#   own predictions on the test part (catimage route --json), and compares routers on the test part.
import json, os, shutil, struct, subprocess, sys
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import routing_data  # the datasets, their embeddings and routing_prototypes.py's evaluation helpers

mode = sys.argv.pop(1) if len(sys.argv) > 1 else ''
if mode not in ('split', 'compare'): sys.exit('usage: finetuned_kernel.py split|compare DATA --out DIR [...]')
ap = routing_data.arguments(required=mode == 'compare')  # the split needs the dataset only
ap.add_argument('--out', required=True)
ap.add_argument('--model-dir', default=os.path.expanduser('~/.cache/catimage/models/all-MiniLM-L6-v2'))
a = ap.parse_args()
out = a.out


if mode == 'split':
    import csv
    gens, Q, C, texts, tau = routing_data.load(a.data, a.shared)
    order = np.random.default_rng(0).permutation(len(texts)); te = np.array_split(order, 5)[0]
    tr = np.setdiff1d(order, te)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, 'train.csv'), 'w', newline='') as f:
        w = csv.writer(f); w.writerow(['prompt_id', 'prompt', 'model', 'quality', 'cost'])
        for i in tr:
            for g, gen in enumerate(gens): w.writerow([f'p{i}', texts[i], gen, Q[i, g], C[i, g]])
    np.save(os.path.join(out, 'test_idx.npy'), te); np.save(os.path.join(out, 'train_idx.npy'), tr)
    sys.exit(0)


def read_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]; header = json.loads(f.read(n)); data = f.read()
    meta = header.pop('__metadata__', {})
    types = {'F32': np.float32, 'F16': np.float16, 'I64': np.int64, 'I32': np.int32}
    tensors = {k: np.frombuffer(data[v['data_offsets'][0]:v['data_offsets'][1]], dtype=types[v['dtype']])
               .reshape(v['shape']) for k, v in header.items()}
    return tensors, meta


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for k, v in sorted(tensors.items()):
        b = np.ascontiguousarray(v, dtype=np.float32).tobytes()
        header[k] = {'dtype': 'F32', 'shape': list(v.shape), 'data_offsets': [offset, offset + len(b)]}
        offset += len(b); blobs.append(b)
    h = json.dumps(header).encode(); h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f: f.write(struct.pack('<Q', len(h))); f.write(h); [f.write(b) for b in blobs]


routing_data.prepare(a, globals())
te, tr = np.load(os.path.join(out, 'test_idx.npy')), np.load(os.path.join(out, 'train_idx.npy'))
catimage = os.path.abspath(a.catimage)

# (a) the fine-tuned encoder as a model folder, and every prompt embedded with it
folder = os.path.join(out, 'encoder'); ft_cache = os.path.join(out, 'ft.npy')
if not os.path.exists(ft_cache):
    router, _ = read_safetensors(os.path.join(out, 'ft.catimage'))
    base, _ = read_safetensors(os.path.join(a.model_dir, 'model.safetensors'))
    tuned = {k[len('estimator.'):]: v for k, v in router.items() if k[len('estimator.'):] in base}
    assert len(tuned) >= 100, f'the router holds {len(tuned)} of the encoder\'s tensors'
    # The pooler (unused by mean pooling) is not fine-tuned: it keeps the base weights.
    weights = {**{k: v for k, v in base.items() if v.dtype == np.float32}, **tuned}
    shutil.copytree(a.model_dir, folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns('model.safetensors*'))
    write_safetensors(os.path.join(folder, 'model.safetensors'), weights)
    prompts = os.path.join(out, 'prompts.jsonl')
    with open(prompts, 'w') as f:
        for t in texts: f.write(json.dumps({'prompt': t}) + '\n')
    subprocess.run([catimage, 'embed', '--model-dir', folder, '--input', prompts, '--output', ft_cache, '--no-cache'],
                   check=True, stdout=subprocess.DEVNULL)
F = np.load(ft_cache).astype(np.float64); F /= np.linalg.norm(F, axis=1, keepdims=True)

# (b) the transformer's own predictions on the test part, as the router serves them
head_cache = os.path.join(out, 'head_test.npy')
if not os.path.exists(head_cache):
    run = subprocess.run([catimage, 'route', '--router', os.path.join(out, 'ft.catimage'), '--json'],
                         input='\n'.join(texts[i] for i in te) + '\n', capture_output=True, text=True, check=True)
    rows = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    assert len(rows) == len(te)
    np.save(head_cache, np.array([[{c['generator']: c['predictedQuality'] for c in r['candidates']}[g] for g in gens]
                                  for r in rows]))
H = np.load(head_cache)

Ytr = Q[tr]
pl = lexical([texts[i] for i in tr], [texts[i] for i in te], Ytr)
pk, pq, p4 = kernel(X[tr], Ytr, tau)(X[te]), krr(X[tr], Ytr, X[te]), krr(L4[tr], Ytr, L4[te])
fk, fq = kernel(F[tr], Ytr, tau)(F[te]), krr(F[tr], Ytr, F[te])
fk1 = kernel(F[tr], Ytr, 0.1)(F[te]); fq1 = krr(F[tr], Ytr, F[te], 0.1)
H = H - H.mean(1, keepdims=True) + Ytr.mean()  # relative target: a per-prompt constant is free; centre it
preds = {
    'default (kernel+krr+lexical+krr@4)': (pk + pq + pl + p4) / 4,
    'transformer alone': H, 'kernel(ft) alone': fk, 'krr(ft) alone': fq, 'krr(ft, τ=0.1) alone': fq1,
    'transformer+kernel+krr+lexical': (H + pk + pq + pl) / 4,
    'transformer+kernel+krr+lexical+krr@4': (H + pk + pq + pl + p4) / 5,
    'transformer+krr(ft)+kernel+krr+lexical+krr@4': (H + fq + pk + pq + pl + p4) / 6,
    'transformer+kernel(ft)+kernel+krr+lexical+krr@4': (H + fk + pk + pq + pl + p4) / 6,
    'transformer+kernel(ft)+krr(ft)+lexical+krr@4': (H + fk + fq + pl + p4) / 5,
    'transformer+krr(ft)+lexical+krr@4': (H + fq + pl + p4) / 4,
    'transformer+kernel(ft,τ=0.1)+krr(ft,τ=0.1)+lexical+krr@4': (H + fk1 + fq1 + pl + p4) / 5,
}
print(f'{a.data}: {"quality gain" if quality_only else "gap recovered"} on the test part ({len(te)} prompts), '
      f'fine-tuned on {len(tr)} (10% of them held out for its early stopping)')
base = routing_data.score(preds['transformer+kernel+krr+lexical+krr@4'], Q[te], C[te], Ytr, gap)
for k, p in preds.items():
    v = routing_data.score(p, Q[te], C[te], Ytr, gap)
    print(f'  {k:58s} {v:+.4f}   vs transformer+kernel+krr+lexical+krr@4 {v - base:+.4f}')
