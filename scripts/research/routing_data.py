# Shared by the issue-15 prototypes (lowrank.py, layers.py, multitask.py): the routing datasets as numpy arrays,
# the evaluation helpers of routing_prototypes.py, and the score they report.
import csv, os

import numpy as np

CEMS_GENERATORS = ['SD-Turbo', 'SDXL-Turbo', 'TAESD', 'amused']


def load(data, shared):
    """data: cems-clip | cems-nima | evalmi-perception | evalmi-correspondence; shared: the datasets folder.
    Returns (gens, Q [N, M] qualities, C [N, M] costs (zero for EvalMi: quality only), texts, the kernel τ the
    README uses for it) over the prompts rated for every generator, in the files' order."""
    rows = {}
    if data.startswith('cems'):
        metric = data.split('-')[1]
        gens = CEMS_GENERATORS
        for g in gens:
            with open(os.path.join(shared, 'cems', f'{metric}_score_with_time_{g}.csv'), newline='') as f:
                for r in csv.DictReader(f):
                    d = rows.setdefault(r['prompt_id'], {'prompt': r['prompt'], 'q': {}, 'c': {}})
                    d['q'][g] = float(r[f'{metric}_score']); d['c'][g] = float(r['mean_time'])
        tau = 0.05
    else:
        column = 'mos_' + data.split('-')[1]
        with open(os.path.join(shared, 'evalmi50k', 'evalmi50k_long.csv'), newline='') as f:
            for r in csv.DictReader(f):
                d = rows.setdefault(r['prompt_id'], {'prompt': r['prompt'], 'q': {}, 'c': {}})
                d['q'][r['model']] = float(r[column]); d['c'][r['model']] = 0.0
        gens = sorted({g for d in rows.values() for g in d['q']})
        tau = 0.1
    keys = [k for k, d in rows.items() if len(d['q']) == len(gens)]
    Q = np.array([[rows[k]['q'][g] for g in gens] for k in keys])
    C = np.array([[rows[k]['c'][g] for g in gens] for k in keys])
    return gens, Q, C, [rows[k]['prompt'] for k in keys], tau


def score(pred, q, c, qtr, gap):
    """The routing figure of predictions `pred` on a test part (q, c): with costs, gap recovered (`gap`, from the
    helpers); quality only (EvalMi: zero costs), the quality gain of the λ = 0 choices over the best single
    generator on the training part's qualities `qtr`."""
    if not c.any():
        return q[np.arange(len(q)), np.argmax(pred, 1)].mean() - q[:, np.argmax(qtr.mean(0))].mean()
    return gap(pred, q, c, c.mean(0))


def helpers_source():
    """The evaluation helpers of routing_prototypes.py (load_embeddings, curve, gap, ridge, kernel, tfidf,
    dual_ridge, ...) as source, for a prototype to exec: they read its globals (N, D, M, LAMBDAS)."""
    src = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'routing_prototypes.py')).read()
    return (src[src.index('def load_embeddings('):src.index('gens = [')]
            + src[src.index('def curve('):src.index('def prior_kernel(')])


def arguments(required=True):
    """The arguments every prototype on a routing dataset takes (data, --catimage, --embeddings, --layers, --shared;
    the embeddings and layers optional when not `required`); a script adds its own and calls prepare() with the
    parsed result."""
    import argparse
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument('data', choices=['cems-clip', 'cems-nima', 'evalmi-perception', 'evalmi-correspondence'])
    ap.add_argument('--catimage', default='.build/release/catimage')
    ap.add_argument('--embeddings', required=required)
    ap.add_argument('--layers', required=required, help="layers.py's LAYERS.npz for the same prompts")
    ap.add_argument('--shared', default=os.path.join(here, '../../../shared/datasets'))
    return ap


def prepare(a, namespace):
    """Loads `a.data` and its embeddings (and layer 4's means when `a.layers`) into `namespace` (a prototype's
    globals(): gens, Q, C, texts, tau, X, N, D, M, LAMBDAS, quality_only, L4) with the evaluation helpers."""
    gens, Q, C, texts, tau = load(a.data, a.shared)
    namespace.update(gens=gens, Q=Q, C=C, texts=texts, tau=tau)
    exec(helpers_source(), namespace)
    X = namespace['load_embeddings'](texts, a.catimage, a.embeddings)
    assert len(X) == len(texts), f'{len(X)} cached embeddings for {len(texts)} prompts: use another --embeddings file'
    namespace.update(X=X, N=X.shape[0], D=X.shape[1], M=Q.shape[1], quality_only=not C.any(),
                     LAMBDAS=np.concatenate([[0], np.geomspace(1e-3, 1e4, 600)]))
    if getattr(a, 'layers', None):
        L4 = np.load(a.layers)['mean4'].astype(np.float64)
        namespace['L4'] = L4 / np.linalg.norm(L4, axis=1, keepdims=True)


def print_paired(results, base, heading):
    """Prints `heading`, then each estimator's mean ± std over `results` (name → one figure per part or draw) and
    its part-wise difference from `results[base]` (mean ± std, and on how many parts it is ahead)."""
    print(heading)
    reference = np.array(results[base]); width = max(len(k) for k in results)
    for k, v in results.items():
        v = np.array(v); d = v - reference
        spread = lambda x: x.std(ddof=1) if len(x) > 1 else 0.0
        print(f'  {k:{width}s} {v.mean():+.4f} ± {spread(v):.4f}   paired vs {base} {d.mean():+.4f} ± {spread(d):.4f} '
              f'({(d > 0).sum()}/{len(d)})')
