"""lra_embed_text: compiles a text file into a C++ string constant.

The task specs must be readable from any working directory (`bazel run //:lra` changes it), so
they are embedded rather than read from runfiles. The file must not contain the raw-string
delimiter `)lra_embed"`.
"""

def lra_embed_text(name, src, symbol, namespace = "lra::tasks", visibility = None):
    """Makes cc_library `name` defining `extern const char <symbol>[]` in `namespace`."""
    out = name + ".cc"
    native.genrule(
        name = name + "_gen",
        srcs = [src],
        outs = [out],
        cmd = ("(echo 'namespace %s {'; echo 'extern const char %s[];'; " +
               "echo 'const char %s[] = R\"lra_embed('; cat $<; echo ')lra_embed\";'; " +
               "echo '}') > $@") % (namespace, symbol, symbol),
    )
    native.cc_library(
        name = name,
        srcs = [out],
        visibility = visibility,
    )
