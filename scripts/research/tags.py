#!/usr/bin/env python3
# Research prototype for issue 15: are EvalMi-50K's skill tags (counting, color, OCR, ...; the `tag` column) what the
# router is missing? Each generator's mean quality over the training prompts of the test prompt's own tag (shrunk
# toward the overall mean by 5 pseudo-prompts) is a router that is *given* the tag, which real traffic does not
# carry: a ceiling. Compared alone and as a fifth member beside the default ensemble (kernel + krr + lexical +
# krr@layer4), and with the tag predicted instead (the similarity kernel over the training prompts' tag means).
# Also the other rating column: the default ensemble fitted on it, added with weight w to the column's own (each
# divided by its training spread), as a multi-metric target (`--target`) would.
# numpy replica (NOT the product's evaluation), own 5 folds (the order and seed of lowrank.py).
# usage: scripts/research/tags.py evalmi-perception|evalmi-correspondence --embeddings CACHE --layers LAYERS.npz
import collections, csv, os, sys
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import routing_data  # the datasets, their embeddings and routing_prototypes.py's evaluation helpers

ap = routing_data.arguments()
a = ap.parse_args()
if not a.data.startswith('evalmi'): sys.exit('tags.py: only EvalMi-50K has a tag column')
routing_data.prepare(a, globals())
with open(os.path.join(a.shared, 'evalmi50k', 'evalmi50k_long.csv'), newline='') as f:
    tag_of = {r['prompt']: r['tag'] for r in csv.DictReader(f)}
tags = [tag_of[t] for t in texts]
other = 'evalmi-correspondence' if a.data == 'evalmi-perception' else 'evalmi-perception'
_, Q2, _, texts2, _ = routing_data.load(other, a.shared)
assert texts2 == texts, 'the two columns list the prompts in another order'

order = np.random.default_rng(0).permutation(N); results = collections.defaultdict(list)
for te in np.array_split(order, 5):
    tr = np.setdiff1d(order, te); Ytr = Q[tr]; mean = Ytr.mean(0)
    def ensemble(Y):
        pl = lexical([texts[i] for i in tr], [texts[i] for i in te], Y)
        return (kernel(X[tr], Y, tau)(X[te]) + krr(X[tr], Y, X[te]) + pl + krr(L4[tr], Y, L4[te])) / 4
    default = ensemble(Ytr)
    cross = ensemble(Q2[tr]) / Q2[tr].std() * Ytr.std()
    members = collections.defaultdict(list)
    for i in tr: members[tags[i]].append(i)
    def tag_mean(i): return (Q[members[tags[i]]].sum(0) + 5 * mean) / (len(members[tags[i]]) + 5)
    given = np.array([tag_mean(i) for i in te])
    predicted = kernel(X[tr], np.array([tag_mean(i) for i in tr]), tau)(X[te])
    for k, p in {'default': default, 'tag given, alone': given, 'default + tag given': (4 * default + given) / 5,
                 'tag predicted, alone': predicted, 'default + tag predicted': (4 * default + predicted) / 5,
                 **{f'default + {w:g} × {other[7:]}': default + w * cross for w in (0.25, 0.5, 1)}}.items():
        results[k].append(routing_data.score(p, Q[te], C[te], Ytr, gap))
routing_data.print_paired(results, 'default', f'{a.data}: quality gain over the best single generator, 5 parts')
