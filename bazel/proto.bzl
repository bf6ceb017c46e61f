"""sb_proto: one .proto file to a C++ (and optionally gRPC) cc_library.

Bazel 4's native proto rules want protobuf built from source, which cannot be
downloaded here; this runs Debian's protoc and grpc_cpp_plugin instead.
Protos are rooted at their package: in //protos, imports read
"switchboard/v1/event.proto". Works in external repositories too (see
third_party/grpc_proto.BUILD).
"""

def sb_proto(name, src, deps = [], grpc = False, visibility = None):
    """Generates `name` (cc_library) from `src`.

    Args:
      name: the cc_library's name.
      src: the .proto file, relative to this package.
      deps: other sb_proto targets whose files `src` imports.
      grpc: also generate the gRPC service stubs.
      visibility: of the cc_library.
    """
    base = src[:-len(".proto")]
    outs = [base + ".pb.h", base + ".pb.cc"]
    if grpc:
        outs += [base + ".grpc.pb.h", base + ".grpc.pb.cc"]
    # The proto root is the file's location minus its import path, which
    # also holds inside external repositories.
    cmd = ("src=$(location {src}); root=$${{src%/{src}}}; " +
           "/usr/bin/protoc --proto_path=$$root --cpp_out=$(RULEDIR) $$src").format(src = src)
    if grpc:
        cmd += (" --grpc_out=$(RULEDIR)" +
                " --plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin")
    native.genrule(
        name = name + "_gen",
        srcs = [src] + [d + "_srcs" for d in deps],
        outs = outs,
        cmd = cmd,
    )
    native.filegroup(
        name = name + "_srcs",
        srcs = [src] + [d + "_srcs" for d in deps],
        visibility = visibility,
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        includes = ["."],
        deps = deps + ["@system//:grpc" if grpc else "@system//:protobuf"],
        visibility = visibility,
    )
