"""Search by example: the clips nearest to a clip, a selection, an audio file or a vector.

This is how an expert finds the first positives of a rare sound before any model exists:
start from one known example (a clip, or a recording of the sound) and listen to its
nearest clips in a feature set.

* :class:`SearchIndex` holds one feature set in memory (loaded once from the store, float32,
  centred: one ``n x dim`` matrix, its row norms and the mean) and answers exact nearest-
  neighbour queries by cosine similarity or Euclidean distance.
* :func:`search_by_example` turns a query into vectors and asks the index: a clip id, several
  clip ids (a selection on a map), an audio file (embedded with the feature set's own
  extractor, optionally ``start_s``/``end_s`` seconds of it), or a vector.
* :class:`SearchResult`: the nearest clip ids, nearest first, and their scores.

Exact search
------------
A query is one float32 matrix product over the index in chunks of :data:`CHUNK_ROWS` rows
(the whole index is read once, memory-bound), an ``argpartition`` for the best candidates,
then the candidates' scores again in float64 from the stored rows and a sort. The float32
pass keeps ``2 k + 16`` candidates, and every other row whose float32 score is within its
error bound of the k-th exact score, so the answer is the brute-force float64 ranking
(ties by ascending clip id).
``benchmarks/bench_search.py`` measures query latency and build time and memory at 100k and
1M clips.
"""


from .index import CHUNK_ROWS, COMBINE, METRICS, SearchIndex, SearchResult
from .queries import embed_file, search_by_example

__all__ = ["CHUNK_ROWS", "COMBINE", "METRICS", "SearchIndex", "SearchResult", "embed_file",
           "search_by_example"]
