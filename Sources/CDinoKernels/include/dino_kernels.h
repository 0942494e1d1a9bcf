/* dino_kernels.h — the kernel library's public interface: tensors, instructions, exec.
 *
 * The runtime (DinoRuntime) lowers a planned program into an array of `dino_instr`
 * over a table of `dino_tensor`s whose data pointers are fixed at load time; a step is
 * one `dino_exec` call: no allocation, hashing or string work per step.
 * Kernels follow IR/OPS.md; attribute slots follow the `attrs` column of IR/ops.def
 * (ints and int lists fill `iattr` in schema order, floats fill `fattr`), which C reads
 * by name through dino_attrs.h. The executor trusts its instructions: the plan is
 * validated once when loaded (DinoPlan's reader, DinoRuntime's Runtime), never per step. */
#ifndef DINO_KERNELS_H
#define DINO_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include "../../CDinoOps/include/dino_ops.h"

/** Most operands one instruction can name (concat of all crops included). */
enum { DINO_MAX_OPERANDS = 16 };

/** A contiguous row-major tensor. */
struct dino_tensor {
    void *data; /**< first element */
    int32_t dtype; /**< DINO_F32 or DINO_I32 */
    int32_t rank; /**< number of dimensions, 0 for a scalar */
    int64_t shape[DINO_MAX_RANK]; /**< extents, outermost first */
};

/** One instruction: op, operand and result indices into the tensor table, attributes. */
struct dino_instr {
    int32_t op; /**< enum dino_op */
    int32_t n_in; /**< operand count */
    int32_t in[DINO_MAX_OPERANDS]; /**< operand tensor indices */
    int32_t out; /**< result tensor index */
    int64_t iattr[DINO_MAX_IATTRS]; /**< int attributes, schema order */
    float fattr[DINO_MAX_FATTRS]; /**< float attributes, schema order */
};

/** Data parallelism: `world` processes each hold `per_rank` images of one global batch of
 *  world·per_rank, this one at positions rank, rank + world, … (DistributedSampler). A
 *  `drop_path_mask` keys row b (rows view-major, `per_rank` per view) by the row the same
 *  image has in the global batch, dino_global_row, so N processes draw the masks one
 *  process with the global batch draws. All zeros (or world ≤ 1): rows are their own. */
struct dino_row_map {
    int64_t rank; /**< this process's rank */
    int64_t world; /**< processes */
    int64_t per_rank; /**< images per step on each process */
};

/** Row b's index in the global batch: (b / per_rank)·world·per_rank + rank +
 *  world·(b % per_rank); b itself when `map` is NULL, world ≤ 1 or per_rank ≤ 0. */
int64_t dino_global_row(int64_t b, const struct dino_row_map *map);

/** Sums x[0..n) over the processes of a data-parallel run in place (every process calls it
 *  with its own x at the same instruction); `user` is what the runtime registered with it.
 *  It reports its own failures (the kernels cannot): all_reduce_sum calls it. */
typedef void (*dino_rank_sum_fn)(float *x, int64_t n, void *user);

/** What one `dino_exec` call needs besides the instructions. */
struct dino_exec_ctx {
    struct dino_tensor *tensors; /**< the tensor table */
    int32_t n_tensors; /**< its length */
    void *scratch; /**< scratch memory, at least the max of dino_instr_scratch_bytes */
    size_t scratch_bytes; /**< its size */
    char error[256]; /**< set when dino_exec fails */
    struct dino_row_map rows; /**< drop-path rows under data parallelism (zeros alone) */
    dino_rank_sum_fn rank_sum; /**< all_reduce_sum's communicator (NULL alone: identity) */
    void *rank_sum_user; /**< rank_sum's `user` argument */
};

/** Scratch bytes `ins` needs: nonzero only for patch_embed (im2col), layer_norm_bwd_gamma
 *  and tall sum_to (row-block partials). The runtime reserves the max over a program
 *  once. `ins` must name valid tensor indices (a loaded, validated plan). */
size_t dino_instr_scratch_bytes(const struct dino_instr *ins, const struct dino_tensor *tensors);

/** Runs `n` instructions in order with the optimised kernels. Leaf ops are skipped;
 *  effect ops update their operands in place and leave their f32[] result untouched.
 *  The instructions must come from a validated plan (shapes, element types, attribute
 *  ranges, tensor indices, buffers and scratch as the loader checks them): nothing is
 *  re-checked here. Returns 0, or 1 + the index of an instruction whose op is outside
 *  the table, with "instruction K: unknown op N" in ctx->error. */
int dino_exec(const struct dino_instr *prog, int32_t n, struct dino_exec_ctx *ctx);

/** The index of the first NaN or infinity among x[0..n), or -1 when all are finite. */
int64_t dino_first_nonfinite(const float *x, int64_t n);

/** Sets the OpenMP thread count (OpenBLAS stays at 1 thread: one pool, no oversubscription). */
void dino_set_num_threads(int n);

/** The OpenMP thread count in use. */
int dino_get_num_threads(void);

/** Makes every (image, head) pair of the attention kernels take the padded-tile path
 *  (`on` nonzero) instead of the path its shape picks (0, the default), so that tests and
 *  benchmarks can run both on one shape. Both compute every element alike, bit for bit. */
void dino_attention_use_tiles(int on);

/** Which kernel runs the GEMMs of matmul, linear, patch_embed and their fused forms. */
enum dino_gemm_kernel {
    DINO_GEMM_AUTO = 0, /**< by the GEMM's shape alone: the tiled GEMM where it wins, else
                             the skinny kernel or OpenBLAS (the default) */
    DINO_GEMM_TILED = 1, /**< the tiled GEMM for every GEMM (where the build has AVX-512F) */
    DINO_GEMM_BLAS = 2, /**< never the tiled GEMM: the skinny kernel by shape, else OpenBLAS */
};

/** Forces a GEMM kernel for every later dino_exec (tests and benchmarks); any value other
 *  than DINO_GEMM_TILED or DINO_GEMM_BLAS restores DINO_GEMM_AUTO. Not for use while a
 *  dino_exec runs. */
void dino_set_gemm_kernel(int kernel);

/** Whether a GEMM C[m, n] = op(A)·op(B) over k runs on the tiled GEMM under the current
 *  choice (each element then summed over k in order by fused multiply-adds). */
int dino_gemm_kernel_is_tiled(int m, int n, int k, int trans_a, int trans_b);

/** Whether op has an entry in the kernel table; 0 for leaves (input, parameter,
 *  constant, region), which dino_exec skips. */
int dino_op_has_kernel(int32_t op);

/** The counter-based RNG of IR/CONTRACT.md, shared by kernels, init and data:
 *  splitmix64(z) (one step of the SplitMix64 finaliser, z advanced by the golden gamma). */
uint64_t dino_splitmix64(uint64_t z);

/** splitmix64(splitmix64(splitmix64(splitmix64(k0) ^ k1) ^ k2) ^ k3). */
uint64_t dino_hash(uint64_t k0, uint64_t k1, uint64_t k2, uint64_t k3);

/** (h >> 40) · 2^-24: a float in [0, 1) from a hash. */
float dino_uniform01(uint64_t h);

/** c[m,n] = a[m,k]·b[n,k]ᵀ (row-major, f32), split over the OpenMP threads by columns:
 *  the k-NN similarity of test features (a) against training features (b). */
void dino_sgemm_nt(int m, int n, int k, const float *a, const float *b, float *c);

/** CRC-32 (IEEE 802.3, zlib's crc32) of `size` bytes, continuing from `crc` (0 to start):
 *  the per-tensor checksums of safetensors files. */
uint32_t dino_crc32(uint32_t crc, const void *data, size_t size);

#endif
