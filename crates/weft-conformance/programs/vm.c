/*
 * A bytecode interpreter: a stack machine with calls, locals and a word
 * memory, executed by one big switch in a loop. A small assembler with
 * labels builds the guest programs: prime counting by trial division,
 * recursive Fibonacci, a sieve in memory, bubble sort, GCD sums and a
 * Collatz search.
 *
 * Usage: vm [SCALE]   (SCALE >= 1, default 1; work grows linearly)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum opcode {
    OP_HALT,
    OP_PUSH,
    OP_POP,
    OP_DUP,
    OP_SWAP,
    OP_OVER,
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIVU,
    OP_MODU,
    OP_AND,
    OP_OR,
    OP_XOR,
    OP_SHL,
    OP_SHRU,
    OP_EQ,
    OP_NE,
    OP_LTU,
    OP_LEU,
    OP_GTU,
    OP_NOT,
    OP_JMP,
    OP_JZ,
    OP_JNZ,
    OP_CALL,
    OP_RET,
    OP_ENTER,
    OP_LOCAL_GET,
    OP_LOCAL_SET,
    OP_LOCAL_TEE,
    OP_LOCAL_INC,
    OP_LOAD,
    OP_STORE,
    OP_PRINT,
    OP_COUNT
};

static const char *const opcode_names[OP_COUNT] = {
    "halt", "push", "pop",  "dup", "swap", "over", "add", "sub",  "mul",  "divu", "modu", "and",
    "or",   "xor",  "shl",  "shru", "eq",  "ne",   "ltu", "leu",  "gtu",  "not",  "jmp",  "jz",
    "jnz",  "call", "ret",  "enter", "local.get", "local.set", "local.tee", "local.inc", "load", "store", "print",
};

#define CODE_CAPACITY 4096
#define LABEL_CAPACITY 256
#define STACK_SIZE 8192
#define CALL_DEPTH 1024
#define MEMORY_WORDS 65536
#define OUTPUT_CAPACITY 64

/* ---- the assembler ---- */

struct assembler {
    int32_t code[CODE_CAPACITY];
    int length;
    int labels[LABEL_CAPACITY];
    int label_count;
    struct {
        int at, label;
    } fixups[LABEL_CAPACITY * 4];
    int fixup_count;
};

static void fail(const char *message) {
    fprintf(stderr, "assembler: %s\n", message);
    exit(2);
}

static void emit(struct assembler *as, int32_t word) {
    if (as->length >= CODE_CAPACITY) fail("code too long");
    as->code[as->length++] = word;
}

static void op(struct assembler *as, enum opcode code) { emit(as, code); }

static void op_arg(struct assembler *as, enum opcode code, int32_t arg) {
    emit(as, code);
    emit(as, arg);
}

static int label_new(struct assembler *as) {
    if (as->label_count >= LABEL_CAPACITY) fail("too many labels");
    as->labels[as->label_count] = -1;
    return as->label_count++;
}

static void label_place(struct assembler *as, int label) { as->labels[label] = as->length; }

static void op_label(struct assembler *as, enum opcode code, int label) {
    emit(as, code);
    if (as->fixup_count >= LABEL_CAPACITY * 4) fail("too many fixups");
    as->fixups[as->fixup_count].at = as->length;
    as->fixups[as->fixup_count].label = label;
    as->fixup_count++;
    emit(as, 0);
}

static void resolve_labels(struct assembler *as) {
    for (int i = 0; i < as->fixup_count; i++) {
        int target = as->labels[as->fixups[i].label];
        if (target < 0) fail("unplaced label");
        as->code[as->fixups[i].at] = target;
    }
}

/* ---- the machine ---- */

struct machine {
    uint32_t stack[STACK_SIZE];
    int sp;
    struct {
        int return_pc, base;
    } frames[CALL_DEPTH];
    int depth;
    uint32_t memory[MEMORY_WORDS];
    uint32_t output[OUTPUT_CAPACITY];
    int output_count;
    uint64_t executed;
    uint64_t histogram[OP_COUNT];
};

enum vm_status { VM_OK, VM_STACK_OVERFLOW, VM_STACK_UNDERFLOW, VM_DIVIDE_BY_ZERO, VM_BAD_ADDRESS, VM_BAD_OPCODE };

static enum vm_status run(struct machine *m, const int32_t *code, int entry) {
    int pc = entry;
    int base = 0;
    uint32_t *stack = m->stack;
    int sp = m->sp;
    uint32_t a, b;
#define NEED(n) \
    if (sp < (n)) return VM_STACK_UNDERFLOW
#define ROOM(n) \
    if (sp + (n) > STACK_SIZE) return VM_STACK_OVERFLOW
#define BINARY(expr)       \
    NEED(2);               \
    b = stack[--sp];       \
    a = stack[sp - 1];     \
    stack[sp - 1] = (expr); \
    break
    for (;;) {
        int32_t instruction = code[pc++];
        m->executed++;
        if (instruction < 0 || instruction >= OP_COUNT) return VM_BAD_OPCODE;
        m->histogram[instruction]++;
        switch ((enum opcode)instruction) {
        case OP_HALT:
            m->sp = sp;
            return VM_OK;
        case OP_PUSH:
            ROOM(1);
            stack[sp++] = (uint32_t)code[pc++];
            break;
        case OP_POP:
            NEED(1);
            sp--;
            break;
        case OP_DUP:
            NEED(1);
            ROOM(1);
            stack[sp] = stack[sp - 1];
            sp++;
            break;
        case OP_SWAP:
            NEED(2);
            a = stack[sp - 1];
            stack[sp - 1] = stack[sp - 2];
            stack[sp - 2] = a;
            break;
        case OP_OVER:
            NEED(2);
            ROOM(1);
            stack[sp] = stack[sp - 2];
            sp++;
            break;
        case OP_ADD:
            BINARY(a + b);
        case OP_SUB:
            BINARY(a - b);
        case OP_MUL:
            BINARY(a * b);
        case OP_DIVU:
            if (sp >= 1 && stack[sp - 1] == 0) return VM_DIVIDE_BY_ZERO;
            BINARY(a / b);
        case OP_MODU:
            if (sp >= 1 && stack[sp - 1] == 0) return VM_DIVIDE_BY_ZERO;
            BINARY(a % b);
        case OP_AND:
            BINARY(a & b);
        case OP_OR:
            BINARY(a | b);
        case OP_XOR:
            BINARY(a ^ b);
        case OP_SHL:
            BINARY(a << (b & 31));
        case OP_SHRU:
            BINARY(a >> (b & 31));
        case OP_EQ:
            BINARY(a == b);
        case OP_NE:
            BINARY(a != b);
        case OP_LTU:
            BINARY(a < b);
        case OP_LEU:
            BINARY(a <= b);
        case OP_GTU:
            BINARY(a > b);
        case OP_NOT:
            NEED(1);
            stack[sp - 1] = !stack[sp - 1];
            break;
        case OP_JMP:
            pc = code[pc];
            break;
        case OP_JZ:
            NEED(1);
            pc = stack[--sp] == 0 ? code[pc] : pc + 1;
            break;
        case OP_JNZ:
            NEED(1);
            pc = stack[--sp] != 0 ? code[pc] : pc + 1;
            break;
        case OP_CALL: {
            /* call target argc: the arguments become the first locals. */
            int argc = code[pc + 1];
            NEED(argc);
            if (m->depth >= CALL_DEPTH) return VM_STACK_OVERFLOW;
            m->frames[m->depth].return_pc = pc + 2;
            m->frames[m->depth].base = base;
            m->depth++;
            base = sp - argc;
            pc = code[pc];
            break;
        }
        case OP_RET:
            NEED(base + 1);
            if (m->depth == 0) return VM_STACK_UNDERFLOW;
            a = stack[sp - 1];
            sp = base;
            stack[sp++] = a;
            m->depth--;
            pc = m->frames[m->depth].return_pc;
            base = m->frames[m->depth].base;
            break;
        case OP_ENTER: {
            int extra = code[pc++];
            ROOM(extra);
            for (int i = 0; i < extra; i++) stack[sp++] = 0;
            break;
        }
        case OP_LOCAL_GET:
            ROOM(1);
            stack[sp] = stack[base + code[pc++]];
            sp++;
            break;
        case OP_LOCAL_SET:
            NEED(1);
            stack[base + code[pc++]] = stack[--sp];
            break;
        case OP_LOCAL_TEE:
            NEED(1);
            stack[base + code[pc++]] = stack[sp - 1];
            break;
        case OP_LOCAL_INC:
            stack[base + code[pc]] += (uint32_t)code[pc + 1];
            pc += 2;
            break;
        case OP_LOAD:
            NEED(1);
            if (stack[sp - 1] >= MEMORY_WORDS) return VM_BAD_ADDRESS;
            stack[sp - 1] = m->memory[stack[sp - 1]];
            break;
        case OP_STORE:
            /* store: [address value] -> [] */
            NEED(2);
            if (stack[sp - 2] >= MEMORY_WORDS) return VM_BAD_ADDRESS;
            m->memory[stack[sp - 2]] = stack[sp - 1];
            sp -= 2;
            break;
        case OP_PRINT:
            NEED(1);
            if (m->output_count < OUTPUT_CAPACITY) m->output[m->output_count++] = stack[sp - 1];
            sp--;
            break;
        default:
            return VM_BAD_OPCODE;
        }
    }
#undef NEED
#undef ROOM
#undef BINARY
}

/* ---- guest programs ---- */

/* count_primes(limit): trial division. Locals: 0 limit, 1 n, 2 d, 3 count. */
static int assemble_count_primes(struct assembler *as) {
    int entry = as->length;
    int outer = label_new(as), inner = label_new(as), composite = label_new(as), prime = label_new(as),
        done = label_new(as);
    op_arg(as, OP_ENTER, 3);
    op_arg(as, OP_PUSH, 2);
    op_arg(as, OP_LOCAL_SET, 1);
    label_place(as, outer);
    op_arg(as, OP_LOCAL_GET, 1);
    op_arg(as, OP_LOCAL_GET, 0);
    op(as, OP_LTU);
    op_label(as, OP_JZ, done);
    op_arg(as, OP_PUSH, 2);
    op_arg(as, OP_LOCAL_SET, 2);
    label_place(as, inner);
    op_arg(as, OP_LOCAL_GET, 2);
    op(as, OP_DUP);
    op(as, OP_MUL);
    op_arg(as, OP_LOCAL_GET, 1);
    op(as, OP_GTU);
    op_label(as, OP_JNZ, prime);
    op_arg(as, OP_LOCAL_GET, 1);
    op_arg(as, OP_LOCAL_GET, 2);
    op(as, OP_MODU);
    op_label(as, OP_JZ, composite);
    op_arg(as, OP_LOCAL_INC, 2);
    emit(as, 1);
    op_label(as, OP_JMP, inner);
    label_place(as, prime);
    op_arg(as, OP_LOCAL_INC, 3);
    emit(as, 1);
    label_place(as, composite);
    op_arg(as, OP_LOCAL_INC, 1);
    emit(as, 1);
    op_label(as, OP_JMP, outer);
    label_place(as, done);
    op_arg(as, OP_LOCAL_GET, 3);
    op(as, OP_RET);
    return entry;
}

/* fib(n) = n < 2 ? n : fib(n - 1) + fib(n - 2), recursively. */
static int assemble_fib(struct assembler *as) {
    int entry = as->length;
    int recurse = label_new(as);
    op_arg(as, OP_LOCAL_GET, 0);
    op_arg(as, OP_PUSH, 2);
    op(as, OP_LTU);
    op_label(as, OP_JZ, recurse);
    op_arg(as, OP_LOCAL_GET, 0);
    op(as, OP_RET);
    label_place(as, recurse);
    op_arg(as, OP_LOCAL_GET, 0);
    op_arg(as, OP_PUSH, 1);
    op(as, OP_SUB);
    op_arg(as, OP_CALL, entry);
    emit(as, 1);
    op_arg(as, OP_LOCAL_GET, 0);
    op_arg(as, OP_PUSH, 2);
    op(as, OP_SUB);
    op_arg(as, OP_CALL, entry);
    emit(as, 1);
    op(as, OP_ADD);
    op(as, OP_RET);
    return entry;
}

/* sieve(limit): marks composites in memory[0..limit), returns the sum of primes. */
static int assemble_sieve(struct assembler *as) {
    int entry = as->length;
    int clear = label_new(as), cleared = label_new(as), outer = label_new(as), mark = label_new(as),
        next = label_new(as), sum = label_new(as), summed = label_new(as), skip = label_new(as), done = label_new(as);
    /* Locals: 0 limit, 1 i, 2 j, 3 total. */
    op_arg(as, OP_ENTER, 3);
    label_place(as, clear);
    op_arg(as, OP_LOCAL_GET, 1);
    op_arg(as, OP_LOCAL_GET, 0);
    op(as, OP_LTU);
    op_label(as, OP_JZ, cleared);
    op_arg(as, OP_LOCAL_GET, 1);
    op_arg(as, OP_PUSH, 0);
    op(as, OP_STORE);
    op_arg(as, OP_LOCAL_INC, 1);
    emit(as, 1);
    op_label(as, OP_JMP, clear);
    label_place(as, cleared);
    op_arg(as, OP_PUSH, 2);
    op_arg(as, OP_LOCAL_SET, 1);
    label_place(as, outer);
    op_arg(as, OP_LOCAL_GET, 1);
    op(as, OP_DUP);
    op(as, OP_MUL);
    op_arg(as, OP_LOCAL_GET, 0);
    op(as, OP_LTU);
    op_label(as, OP_JZ, sum);
    op_arg(as, OP_LOCAL_GET, 1);
    op(as, OP_LOAD);
    op_label(as, OP_JNZ, next);
    op_arg(as, OP_LOCAL_GET, 1);
    op(as, OP_DUP);
    op(as, OP_MUL);
    op_arg(as, OP_LOCAL_SET, 2);
    label_place(as, mark);
    op_arg(as, OP_LOCAL_GET, 2);
    op_arg(as, OP_LOCAL_GET, 0);
    op(as, OP_LTU);
    op_label(as, OP_JZ, next);
    op_arg(as, OP_LOCAL_GET, 2);
    op_arg(as, OP_PUSH, 1);
    op(as, OP_STORE);
    op_arg(as, OP_LOCAL_GET, 2);
    op_arg(as, OP_LOCAL_GET, 1);
    op(as, OP_ADD);
    op_arg(as, OP_LOCAL_SET, 2);
    op_label(as, OP_JMP, mark);
    label_place(as, next);
    op_arg(as, OP_LOCAL_INC, 1);
    emit(as, 1);
    op_label(as, OP_JMP, outer);
    label_place(as, sum);
    op_arg(as, OP_PUSH, 2);
    op_arg(as, OP_LOCAL_SET, 1);
    label_place(as, summed);
    op_arg(as, OP_LOCAL_GET, 1);
    op_arg(as, OP_LOCAL_GET, 0);
    op(as, OP_LTU);
    op_label(as, OP_JZ, done);
    op_arg(as, OP_LOCAL_GET, 1);
    op(as, OP_LOAD);
    op_label(as, OP_JNZ, skip);
    op_arg(as, OP_LOCAL_GET, 3);
    op_arg(as, OP_LOCAL_GET, 1);
    op(as, OP_ADD);
    op_arg(as, OP_LOCAL_SET, 3);
    label_place(as, skip);
    op_arg(as, OP_LOCAL_INC, 1);
    emit(as, 1);
    op_label(as, OP_JMP, summed);
    label_place(as, done);
    op_arg(as, OP_LOCAL_GET, 3);
    op(as, OP_RET);
    return entry;
}

/* bubble_sort(count, seed): fills memory with an LCG, sorts it, returns a hash. */
static int assemble_bubble_sort(struct assembler *as) {
    int entry = as->length;
    int fill = label_new(as), filled = label_new(as), pass = label_new(as), step = label_new(as),
        no_swap = label_new(as), pass_done = label_new(as), hash = label_new(as), done = label_new(as);
    /* Locals: 0 count, 1 seed, 2 i, 3 swapped, 4 h. */
    op_arg(as, OP_ENTER, 3);
    label_place(as, fill);
    op_arg(as, OP_LOCAL_GET, 2);
    op_arg(as, OP_LOCAL_GET, 0);
    op(as, OP_LTU);
    op_label(as, OP_JZ, filled);
    op_arg(as, OP_LOCAL_GET, 1);
    op_arg(as, OP_PUSH, 1103515245);
    op(as, OP_MUL);
    op_arg(as, OP_PUSH, 12345);
    op(as, OP_ADD);
    op_arg(as, OP_LOCAL_TEE, 1);
    op_arg(as, OP_LOCAL_GET, 2);
    op(as, OP_SWAP);
    op_arg(as, OP_PUSH, 16);
    op(as, OP_SHRU);
    op(as, OP_STORE);
    op_arg(as, OP_LOCAL_INC, 2);
    emit(as, 1);
    op_label(as, OP_JMP, fill);
    label_place(as, filled);
    label_place(as, pass);
    op_arg(as, OP_PUSH, 0);
    op_arg(as, OP_LOCAL_SET, 3);
    op_arg(as, OP_PUSH, 1);
    op_arg(as, OP_LOCAL_SET, 2);
    label_place(as, step);
    op_arg(as, OP_LOCAL_GET, 2);
    op_arg(as, OP_LOCAL_GET, 0);
    op(as, OP_LTU);
    op_label(as, OP_JZ, pass_done);
    /* if memory[i-1] > memory[i]: swap */
    op_arg(as, OP_LOCAL_GET, 2);
    op_arg(as, OP_PUSH, 1);
    op(as, OP_SUB);
    op(as, OP_LOAD);
    op_arg(as, OP_LOCAL_GET, 2);
    op(as, OP_LOAD);
    op(as, OP_GTU);
    op_label(as, OP_JZ, no_swap);
    op_arg(as, OP_LOCAL_GET, 2);
    op(as, OP_LOAD);
    op_arg(as, OP_LOCAL_GET, 2);
    op_arg(as, OP_LOCAL_GET, 2);
    op_arg(as, OP_PUSH, 1);
    op(as, OP_SUB);
    op(as, OP_LOAD);
    op(as, OP_STORE);
    op_arg(as, OP_LOCAL_GET, 2);
    op_arg(as, OP_PUSH, 1);
    op(as, OP_SUB);
    op(as, OP_SWAP);
    op(as, OP_STORE);
    op_arg(as, OP_PUSH, 1);
    op_arg(as, OP_LOCAL_SET, 3);
    label_place(as, no_swap);
    op_arg(as, OP_LOCAL_INC, 2);
    emit(as, 1);
    op_label(as, OP_JMP, step);
    label_place(as, pass_done);
    op_arg(as, OP_LOCAL_GET, 3);
    op_label(as, OP_JNZ, pass);
    op_arg(as, OP_PUSH, 0);
    op_arg(as, OP_LOCAL_SET, 2);
    op_arg(as, OP_PUSH, 5381);
    op_arg(as, OP_LOCAL_SET, 4);
    label_place(as, hash);
    op_arg(as, OP_LOCAL_GET, 2);
    op_arg(as, OP_LOCAL_GET, 0);
    op(as, OP_LTU);
    op_label(as, OP_JZ, done);
    op_arg(as, OP_LOCAL_GET, 4);
    op_arg(as, OP_PUSH, 33);
    op(as, OP_MUL);
    op_arg(as, OP_LOCAL_GET, 2);
    op(as, OP_LOAD);
    op(as, OP_XOR);
    op_arg(as, OP_LOCAL_SET, 4);
    op_arg(as, OP_LOCAL_INC, 2);
    emit(as, 1);
    op_label(as, OP_JMP, hash);
    label_place(as, done);
    op_arg(as, OP_LOCAL_GET, 4);
    op(as, OP_RET);
    return entry;
}

/* gcd(a, b) by Euclid's algorithm, iteratively. */
static int assemble_gcd(struct assembler *as) {
    int entry = as->length;
    int loop = label_new(as), done = label_new(as);
    label_place(as, loop);
    op_arg(as, OP_LOCAL_GET, 1);
    op_label(as, OP_JZ, done);
    op_arg(as, OP_LOCAL_GET, 0);
    op_arg(as, OP_LOCAL_GET, 1);
    op(as, OP_MODU);
    op_arg(as, OP_LOCAL_GET, 1);
    op_arg(as, OP_LOCAL_SET, 0);
    op_arg(as, OP_LOCAL_SET, 1);
    op_label(as, OP_JMP, loop);
    label_place(as, done);
    op_arg(as, OP_LOCAL_GET, 0);
    op(as, OP_RET);
    return entry;
}

/* gcd_sum(n) = sum of gcd(i, j) for 1 <= i, j <= n. */
static int assemble_gcd_sum(struct assembler *as, int gcd) {
    int entry = as->length;
    int outer = label_new(as), inner = label_new(as), next = label_new(as), done = label_new(as);
    /* Locals: 0 n, 1 i, 2 j, 3 total. */
    op_arg(as, OP_ENTER, 3);
    op_arg(as, OP_PUSH, 1);
    op_arg(as, OP_LOCAL_SET, 1);
    label_place(as, outer);
    op_arg(as, OP_LOCAL_GET, 1);
    op_arg(as, OP_LOCAL_GET, 0);
    op(as, OP_LEU);
    op_label(as, OP_JZ, done);
    op_arg(as, OP_PUSH, 1);
    op_arg(as, OP_LOCAL_SET, 2);
    label_place(as, inner);
    op_arg(as, OP_LOCAL_GET, 2);
    op_arg(as, OP_LOCAL_GET, 0);
    op(as, OP_LEU);
    op_label(as, OP_JZ, next);
    op_arg(as, OP_LOCAL_GET, 3);
    op_arg(as, OP_LOCAL_GET, 1);
    op_arg(as, OP_LOCAL_GET, 2);
    op_arg(as, OP_CALL, gcd);
    emit(as, 2);
    op(as, OP_ADD);
    op_arg(as, OP_LOCAL_SET, 3);
    op_arg(as, OP_LOCAL_INC, 2);
    emit(as, 1);
    op_label(as, OP_JMP, inner);
    label_place(as, next);
    op_arg(as, OP_LOCAL_INC, 1);
    emit(as, 1);
    op_label(as, OP_JMP, outer);
    label_place(as, done);
    op_arg(as, OP_LOCAL_GET, 3);
    op(as, OP_RET);
    return entry;
}

/* collatz_longest(limit): the start below limit with the longest chain. */
static int assemble_collatz(struct assembler *as) {
    int entry = as->length;
    int outer = label_new(as), chain = label_new(as), odd = label_new(as), stepped = label_new(as),
        chain_done = label_new(as), not_longer = label_new(as), done = label_new(as);
    /* Locals: 0 limit, 1 start, 2 x, 3 steps, 4 best steps, 5 best start. */
    op_arg(as, OP_ENTER, 5);
    op_arg(as, OP_PUSH, 1);
    op_arg(as, OP_LOCAL_SET, 1);
    label_place(as, outer);
    op_arg(as, OP_LOCAL_GET, 1);
    op_arg(as, OP_LOCAL_GET, 0);
    op(as, OP_LTU);
    op_label(as, OP_JZ, done);
    op_arg(as, OP_LOCAL_GET, 1);
    op_arg(as, OP_LOCAL_SET, 2);
    op_arg(as, OP_PUSH, 0);
    op_arg(as, OP_LOCAL_SET, 3);
    label_place(as, chain);
    op_arg(as, OP_LOCAL_GET, 2);
    op_arg(as, OP_PUSH, 1);
    op(as, OP_NE);
    op_label(as, OP_JZ, chain_done);
    op_arg(as, OP_LOCAL_GET, 2);
    op_arg(as, OP_PUSH, 1);
    op(as, OP_AND);
    op_label(as, OP_JNZ, odd);
    op_arg(as, OP_LOCAL_GET, 2);
    op_arg(as, OP_PUSH, 1);
    op(as, OP_SHRU);
    op_arg(as, OP_LOCAL_SET, 2);
    op_label(as, OP_JMP, stepped);
    label_place(as, odd);
    op_arg(as, OP_LOCAL_GET, 2);
    op_arg(as, OP_PUSH, 3);
    op(as, OP_MUL);
    op_arg(as, OP_PUSH, 1);
    op(as, OP_ADD);
    op_arg(as, OP_LOCAL_SET, 2);
    label_place(as, stepped);
    op_arg(as, OP_LOCAL_INC, 3);
    emit(as, 1);
    op_label(as, OP_JMP, chain);
    label_place(as, chain_done);
    op_arg(as, OP_LOCAL_GET, 3);
    op_arg(as, OP_LOCAL_GET, 4);
    op(as, OP_GTU);
    op_label(as, OP_JZ, not_longer);
    op_arg(as, OP_LOCAL_GET, 3);
    op_arg(as, OP_LOCAL_SET, 4);
    op_arg(as, OP_LOCAL_GET, 1);
    op_arg(as, OP_LOCAL_SET, 5);
    label_place(as, not_longer);
    op_arg(as, OP_LOCAL_INC, 1);
    emit(as, 1);
    op_label(as, OP_JMP, outer);
    label_place(as, done);
    op_arg(as, OP_LOCAL_GET, 5);
    op_arg(as, OP_PUSH, 16);
    op(as, OP_SHL);
    op_arg(as, OP_LOCAL_GET, 4);
    op(as, OP_OR);
    op(as, OP_RET);
    return entry;
}

static void call_and_print(struct assembler *as, int function, int32_t arg0, int argc, int32_t arg1) {
    op_arg(as, OP_PUSH, arg0);
    if (argc > 1) op_arg(as, OP_PUSH, arg1);
    op_arg(as, OP_CALL, function);
    emit(as, argc);
    op(as, OP_PRINT);
}

static const char *const status_names[] = {"ok", "stack overflow", "stack underflow", "divide by zero",
                                           "bad address", "bad opcode"};

int main(int argc, char **argv) {
    int scale = argc > 1 ? atoi(argv[1]) : 1;
    if (scale < 1) scale = 1;

    struct assembler *as = calloc(1, sizeof *as);
    struct machine *m = calloc(1, sizeof *m);
    if (!as || !m) return 1;

    /* The program starts with a jump over the functions to the driver. */
    int driver = label_new(as);
    op_label(as, OP_JMP, driver);
    int count_primes = assemble_count_primes(as);
    int fib = assemble_fib(as);
    int sieve = assemble_sieve(as);
    int bubble_sort = assemble_bubble_sort(as);
    int gcd = assemble_gcd(as);
    int gcd_sum = assemble_gcd_sum(as, gcd);
    int collatz = assemble_collatz(as);
    label_place(as, driver);
    call_and_print(as, count_primes, 50, 1, 0);
    call_and_print(as, fib, 10, 1, 0);
    call_and_print(as, sieve, 50, 1, 0);
    call_and_print(as, bubble_sort, 8, 2, 42);
    call_and_print(as, gcd_sum, 6, 1, 0);
    call_and_print(as, collatz, 12, 1, 0);
    op(as, OP_HALT);
    resolve_labels(as);

    /* A program that must fail: division by zero. */
    struct assembler *faulty = calloc(1, sizeof *faulty);
    if (!faulty) return 1;
    op_arg(faulty, OP_PUSH, 7);
    op_arg(faulty, OP_PUSH, 0);
    op(faulty, OP_DIVU);
    op(faulty, OP_HALT);
    resolve_labels(faulty);

    uint64_t checksum = 0;
    for (int round = 0; round < scale; round++) {
        m->sp = 0;
        m->depth = 0;
        m->output_count = 0;
        enum vm_status status = run(m, as->code, 0);
        if (status != VM_OK) {
            printf("round %d failed: %s\n", round, status_names[status]);
            return 1;
        }
        for (int i = 0; i < m->output_count; i++) checksum = checksum * 0x100000001b3ULL ^ m->output[i];
    }
    m->sp = 0;
    enum vm_status fault = run(m, faulty->code, 0);

    printf("program: %d words\n", as->length);
    static const char *const names[] = {"primes below 50", "fib(10)", "sum of primes below 50",
                                        "sorted hash", "gcd sum to 6", "longest collatz below 12"};
    for (int i = 0; i < m->output_count && i < 6; i++) printf("%s = %u\n", names[i], m->output[i]);
    printf("faulty program: %s\n", status_names[fault]);
    printf("instructions executed: %llu\n", (unsigned long long)m->executed);
    for (int i = 0; i < OP_COUNT; i++)
        if (m->histogram[i]) printf("  %-10s %llu\n", opcode_names[i], (unsigned long long)m->histogram[i]);
    printf("checksum = %016llx\n", (unsigned long long)checksum);
    free(faulty);
    free(m);
    free(as);
    return 0;
}
