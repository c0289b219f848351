# -*- Python -*-
import os
import shutil

import lit.formats
from lit.llvm import llvm_config

config.name = "salac"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test", ".json"]
config.excludes = ["Inputs", "lit.cfg.py", "lit.site.cfg.py", "CMakeLists.txt"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.salac_obj_root, "test")

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%salac_src", config.salac_src_root))
config.substitutions.append(("%salac_obj", config.salac_obj_root))
config.substitutions.append(("%python", config.python_executable or "python3"))
config.substitutions.append(
    ("%check-ptx", "%s %s/utils/check-ptx.py" % (config.python_executable or "python3",
                                               config.salac_src_root)))

llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])
llvm_config.use_default_substitutions()

tool_dirs = [config.salac_tools_dir, config.llvm_tools_dir]
llvm_config.add_tool_substitutions(["salac", "salac-opt"], tool_dirs)
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.salac_tools_dir, append_path=True)

# ptxas: on PATH or in the CUDA toolkit. Without it the PTX assembly checks are
# skipped (reported as UNSUPPORTED) and the emitted PTX is still checked as text.
ptxas = shutil.which("ptxas") or next(
    (p for p in ["/usr/local/cuda/bin/ptxas", "/usr/lib/nvidia-cuda-toolkit/bin/ptxas"]
     if os.path.exists(p)), None)
if ptxas:
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))
    config.environment["SALAC_PTXAS"] = ptxas
else:
    lit_config.note("ptxas not found (no CUDA toolkit): skipping the tests that "
                    "assemble the emitted PTX for sm_90")

# cuda.h (header only; nothing is linked): lets the tests compile the generated
# salac_kernels.h as C.
for inc in ["/usr/local/cuda/include", "/usr/include"]:
    if os.path.exists(os.path.join(inc, "cuda.h")):
        config.available_features.add("cuda-header")
        config.substitutions.append(("%cuda_include", inc))
        break
