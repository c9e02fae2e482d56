"""lra_task: one task folder's registration library.

    lra_task(
        name = "task",
        srcs = ["register.cc"],          # LRA_REGISTER_TASK(kListOpsSpec, (TaskHooks{...}));
        specs = [":spec"],               # lra_embed_text targets of the folder's spec.textproto
        deps = [":listops"],             # the converter (and generator) the hooks call
    )

makes an alwayslink cc_library (the registration is a static initializer, which the linker would
otherwise drop) that links the spec registry. Listing it once in //tasks:all_tasks (or in a test's
deps, for a test task) is all it takes for `lra prepare`, `lra tasks`, the configs and the report
to know the task; tasks/README.md, "Add a task".
"""

def lra_task(name, srcs, specs, deps = [], visibility = ["//visibility:public"], testonly = False):
    native.cc_library(
        name = name,
        srcs = srcs,
        deps = specs + deps + [
            "//tasks:spec_registry",
            "//tasks/common:task",
        ],
        alwayslink = True,
        visibility = visibility,
        testonly = testonly,
    )
