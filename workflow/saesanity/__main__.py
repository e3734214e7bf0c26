import os

# Transparent huge pages for PyTorch's large CPU tensors (read by its allocator when it first allocates, so set
# before any torch work): a training step allocates fresh gradient tensors, and faulting their 4 KiB pages in
# costs 20 ms per 32 MiB, about 4% of a TopK step at 512 x 16,384; huge pages cut that tenfold. It changes no
# result, and a value set by the user wins.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

from saesanity.memory import keep_freed_memory  # noqa: E402

keep_freed_memory()

from saesanity.cli import main  # noqa: E402

main()
