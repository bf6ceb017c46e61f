"""sb_fuzzer: a libFuzzer target and a test that replays its corpus.

For a fuzz target `name` (sources defining LLVMFuzzerTestOneInput, and
optionally LLVMFuzzerInitialize) with its corpus in corpus/<name>/:

  <name>              the fuzzer. Under --config=fuzz it is a libFuzzer
                      binary (clang -fsanitize=fuzzer,address,undefined);
                      otherwise it replays the files or directories given
                      as arguments. Tagged manual: //... leaves it out.
  <name>_corpus_test  runs every corpus file (seeds and the inputs of past
                      crashes) through the target, in every build: gcc,
                      tsa and asan. A regression test for each crash found.
"""

def sb_fuzzer(name, srcs, deps = []):
    native.cc_library(
        name = name + "_lib",
        testonly = 1,
        srcs = srcs,
        deps = deps,
        alwayslink = 1,
    )
    native.cc_binary(
        name = name,
        testonly = 1,
        deps = [":" + name + "_lib"] + select({
            "//bazel:libfuzzer": [],
            "//conditions:default": ["//tests/fuzz:replay_main"],
        }),
        linkopts = select({
            "//bazel:libfuzzer": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        tags = ["manual"],
    )
    native.cc_test(
        name = name + "_corpus_test",
        size = "small",
        args = ["%s/corpus/%s" % (native.package_name(), name)],
        data = native.glob(["corpus/%s/*" % name], allow_empty = False),
        deps = [
            ":" + name + "_lib",
            "//tests/fuzz:replay_main",
        ],
    )
