# Writes the contents of INPUT into OUTPUT as a C++ raw string literal, for
# #include as the initialiser of a `const char[]`. Run with cmake -P:
#   cmake -DINPUT=<file> -DOUTPUT=<file.inc> -P EmbedFile.cmake
if(NOT INPUT OR NOT OUTPUT)
  message(FATAL_ERROR "EmbedFile.cmake: set INPUT and OUTPUT")
endif()
file(READ "${INPUT}" content)
set(delim "salac_embed")
string(FIND "${content}" ")${delim}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains ')${delim}\"'; cannot embed it")
endif()
set(text "// Generated from ${INPUT} by EmbedFile.cmake. Do not edit.\nR\"${delim}(${content})${delim}\"\n")
# Only touch OUTPUT when it changes, so that dependents do not rebuild needlessly.
if(EXISTS "${OUTPUT}")
  file(READ "${OUTPUT}" old)
  if(old STREQUAL text)
    return()
  endif()
endif()
file(WRITE "${OUTPUT}" "${text}")
