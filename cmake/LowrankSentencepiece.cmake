# Optional libsentencepiece (Debian: libsentencepiece-dev) for the examples' and tests' reading
# of SentencePiece tokenizer.model files (examples/engine/runtime/sentencepiece_tokenizer.hpp). The
# header-only library never uses it. Defines, once:
#   LOWRANK_HAVE_SENTENCEPIECE  TRUE/FALSE (in the first including directory only: test
#                               `if(TARGET lowrank_sentencepiece)` elsewhere)
#   lowrank_sentencepiece       INTERFACE target (links the library, defines
#                               LOWRANK_HAVE_SENTENCEPIECE=1) when found
# -DLOWRANK_WITH_SENTENCEPIECE=OFF builds as if it were absent.
include_guard(GLOBAL)
option(LOWRANK_WITH_SENTENCEPIECE "Use libsentencepiece (tokenizer.model files) in the examples/tests when found" ON)
if(LOWRANK_WITH_SENTENCEPIECE)
  find_path(LOWRANK_SENTENCEPIECE_INCLUDE_DIR sentencepiece_processor.h)
  find_library(LOWRANK_SENTENCEPIECE_LIBRARY sentencepiece)
endif()
if(LOWRANK_WITH_SENTENCEPIECE AND LOWRANK_SENTENCEPIECE_INCLUDE_DIR AND LOWRANK_SENTENCEPIECE_LIBRARY)
  set(LOWRANK_HAVE_SENTENCEPIECE TRUE)
  add_library(lowrank_sentencepiece INTERFACE)
  target_include_directories(lowrank_sentencepiece SYSTEM INTERFACE ${LOWRANK_SENTENCEPIECE_INCLUDE_DIR})
  target_link_libraries(lowrank_sentencepiece INTERFACE ${LOWRANK_SENTENCEPIECE_LIBRARY})
  target_compile_definitions(lowrank_sentencepiece INTERFACE LOWRANK_HAVE_SENTENCEPIECE=1)
  message(STATUS "lowrank: libsentencepiece found (${LOWRANK_SENTENCEPIECE_LIBRARY}): tokenizer.model support on")
else()
  set(LOWRANK_HAVE_SENTENCEPIECE FALSE)
  message(STATUS "lowrank: libsentencepiece not found or LOWRANK_WITH_SENTENCEPIECE=OFF: tokenizer.model support and its tests are OFF "
                 "(install libsentencepiece-dev, e.g. scripts/install_deps.sh). GGUF SentencePiece "
                 "vocabularies work without it.")
endif()
