"""Bazel macros for model plugins: `lra_model` makes one model folder's targets, `lra_model_list`
one list of models (//models/all_models is the list lra links; tests may make their own)."""

_REGISTRY = "//models:registry"

def lra_model(
        name,
        srcs,
        hdrs = [],
        deps = [],
        copts = [],
        configs = None,
        test_name = None,
        test_srcs = None,
        test_deps = [],
        test_size = "small",
        testonly = False,
        visibility = ["//:__pkg__", "//harness:__subpackages__", "//models:__subpackages__"]):
    """A model plugin's targets, in the folder of its BUILD file.

    Makes
      :<name>       the cc_library, alwayslink (LRA_REGISTER_MODEL runs in a static initializer,
                    which the linker would otherwise drop), depending on //models:registry;
      :configs      a filegroup of its config files (default: every configs/**/*.textproto),
                    the runfiles of tests that resolve configs (harness/config.h);
      :docs         its README.md, if any (//models:export_names_test reads it);
      :<name>_test  (or test_name) its golden / gradient / training test, a cc_test of
                    test_srcs (default: <name>_test.cc) linked with the library,
                    //models/testing:train_util and gtest_main.

    Args:
      name: the library's name; by convention the folder's name, so the folder's label
        (//models/<name>) names the library in a model list.
      srcs, hdrs, deps, copts: as for cc_library.
      configs: the config files, if not the default glob.
      test_name, test_srcs, test_deps, test_size: the test target.
      testonly: a model that exists only for tests.
      visibility: of the library and the configs.
    """
    native.cc_library(
        name = name,
        srcs = srcs,
        hdrs = hdrs,
        copts = copts,
        deps = deps + ([] if _REGISTRY in deps else [_REGISTRY]),
        alwayslink = True,
        testonly = testonly,
        visibility = visibility,
    )
    native.filegroup(
        name = "configs",
        srcs = configs if configs != None else native.glob(["configs/**/*.textproto"]),
        testonly = testonly,
        visibility = visibility,
    )
    native.filegroup(
        name = "docs",
        srcs = native.glob(["README.md"]),
        testonly = testonly,
        visibility = visibility,
    )
    native.cc_test(
        name = test_name if test_name else name + "_test",
        size = test_size,
        srcs = test_srcs if test_srcs != None else [name + "_test.cc"],
        copts = copts,
        deps = [":" + name] + test_deps + [
            "//models/testing:train_util",
            "//third_party:gtest_main",
        ],
    )

def _sibling(model, target):
    """(//models/bag, configs) -> //models/bag:configs; (//pkg:lib, configs) -> //pkg:configs."""
    return model.split(":")[0] + ":" + target

def lra_model_list(name, models, testonly = False, visibility = ["//:__pkg__", "//harness:__subpackages__", "//models:__subpackages__"]):
    """A list of models, one label each (a model's folder, or another list's package).

    Makes
      :<name>    a cc_library linking every model's library (their static registration puts them
                 in the registry of any binary that depends on it);
      :configs   a filegroup of every model's :configs;
      :docs      a filegroup of every model's :docs.
    """
    native.cc_library(
        name = name,
        deps = models,
        testonly = testonly,
        visibility = visibility,
    )
    native.filegroup(
        name = "configs",
        srcs = [_sibling(m, "configs") for m in models],
        testonly = testonly,
        visibility = visibility,
    )
    native.filegroup(
        name = "docs",
        srcs = [_sibling(m, "docs") for m in models],
        testonly = testonly,
        visibility = visibility,
    )
