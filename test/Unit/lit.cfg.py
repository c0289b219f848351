# -*- Python -*-
# Runs every GoogleTest binary under <build>/unittests (names ending in "Tests").
import os
import lit.formats

config.name = "salac-unit"
config.suffixes = []
config.test_source_root = os.path.join(config.salac_obj_root, "bin")
config.test_exec_root = config.test_source_root
config.test_format = lit.formats.GoogleTest(".", "Tests")
