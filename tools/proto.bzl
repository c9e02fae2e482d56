"""lra_cc_proto: compiles one .proto with Debian's /usr/bin/protoc into a cc_library.

Bazel 4.2.3's native proto rules want @com_google_protobuf (a download); this macro keeps the
build offline. Imports are resolved relative to the workspace root, so a .proto imports another
as "datasets/example.proto".
"""

def lra_cc_proto(name, src, deps = [], visibility = None):
    base = src[:-len(".proto")]
    pkg = native.package_name()
    out_h = base + ".pb.h"
    out_cc = base + ".pb.cc"
    dep_protos = [d + "_srcs" for d in deps]
    native.filegroup(name = name + "_srcs", srcs = [src], visibility = visibility)
    native.genrule(
        name = name + "_gen",
        srcs = [src] + dep_protos,
        outs = [out_h, out_cc],
        cmd = "protoc --proto_path=. --cpp_out=$(GENDIR) %s" % ((pkg + "/" if pkg else "") + src),
    )
    native.cc_library(
        name = name,
        srcs = [out_cc],
        hdrs = [out_h],
        deps = deps + ["//third_party:protobuf"],
        visibility = visibility,
    )
