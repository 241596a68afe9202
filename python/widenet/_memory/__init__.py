"""The memory guard: a call that would allocate more than a limit is refused before allocating.

Every public entry point that allocates arrays growing with its arguments (the Jacobian,
Gram matrices, the hidden layer of a batch, training records) estimates the bytes it is
about to allocate from the shapes alone and calls one of the ``check_*`` functions of this package
first. Above the limit they raise :class:`MemoryLimitError` (a ``ValueError`` and a
``MemoryError``) naming the size, the shape, the limit and the chunked alternative.

The limit is, in order of precedence: the value given to :func:`set_memory_limit`; the
environment variable ``WIDENET_MEMORY_LIMIT`` (read at every check); half of the physical
memory (or of the control group's limit when that is smaller).

The estimates count the peak of the whole call: the arrays its algorithm holds at once in
its fullest phase (outputs, the blocks of the compiled kernels or of the numpy twin with its
temporaries, LAPACK's workspaces, copies, training records), from the shapes alone, before
anything is allocated. :func:`estimate` reads the figure a call's guard compares with the
limit; the tests hold it within 1.3x of the peak resident memory each entry point adds.
Small arrays (of the size of the inputs or below) are left out.
"""

from widenet._memory._guard import (
    DEFAULT_FRACTION,
    ENVIRONMENT_VARIABLE,
    FALLBACK_PHYSICAL_MEMORY,
    Block,
    MemoryLimitError,
    estimate,
    format_bytes,
    get_memory_limit,
    parse_size,
    peak,
    physical_memory,
    preliminary,
    require,
    set_memory_limit,
)
from widenet._memory._kernels import (
    EIGH_COPIES,
    TWIN_KERNEL_COPIES,
    check_gram,
    check_kernel_fit,
    check_kernel_prediction,
    check_least_squares,
    check_limit_kernel,
    check_linear_run,
    lazy_training_blocks,
    svd_blocks,
)
from widenet._memory._passes import (
    GRAM_BAND_ROWS,
    RECORD_BLOCK,
    TRAINING_ALTERNATIVE,
    advice_blocks,
    check_hidden,
    check_initialization,
    check_jacobian,
    check_ntk,
    check_training,
    default_width_chunk,
    ntk_blocks,
    output_ntk_blocks,
    pass_blocks,
    recorded_count,
    training_blocks,
)

__all__ = [
    "DEFAULT_FRACTION", "EIGH_COPIES", "ENVIRONMENT_VARIABLE", "FALLBACK_PHYSICAL_MEMORY", "GRAM_BAND_ROWS",
    "RECORD_BLOCK", "TRAINING_ALTERNATIVE", "TWIN_KERNEL_COPIES", "Block", "MemoryLimitError", "advice_blocks",
    "check_gram", "check_hidden", "check_initialization", "check_jacobian", "check_kernel_fit",
    "check_kernel_prediction", "check_least_squares", "check_limit_kernel", "check_linear_run", "check_ntk",
    "check_training", "default_width_chunk", "estimate", "format_bytes", "get_memory_limit", "lazy_training_blocks",
    "ntk_blocks", "output_ntk_blocks", "parse_size", "pass_blocks", "peak", "physical_memory", "preliminary",
    "recorded_count", "require", "set_memory_limit", "svd_blocks", "training_blocks",
]

# The functions and the error keep this module as theirs (the error's type is named by it).
for _name in __all__:
    if getattr(globals()[_name], "__module__", "").startswith(__name__ + "."):
        globals()[_name].__module__ = __name__
del _name
