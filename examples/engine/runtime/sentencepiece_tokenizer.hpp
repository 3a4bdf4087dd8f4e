// A SentencePiece `tokenizer.model` (Hugging Face Llama-2 directory layout) through the
// system's libsentencepiece (Debian: libsentencepiece-dev). Only the example programs and
// tests that define LOWRANK_HAVE_SENTENCEPIECE (CMake does, when the library is found) may
// include this header; the header-only library never needs it, and spm_tokenizer.hpp reads
// the same vocabulary from GGUF metadata without it.
//
// Same interface as spm_tokenizer (encode / decode_token / decode / bos / eos / add_bos), so
// the runtime can use either. Special-token strings in the text are not parsed: the text is
// encoded as text (SentencePiece's own behaviour).
#pragma once

#ifndef LOWRANK_HAVE_SENTENCEPIECE
#error "sentencepiece_tokenizer.hpp needs libsentencepiece (configure with it installed: scripts/install_deps.sh)"
#endif

#include <sentencepiece_processor.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace lowrank::runtime {

class sentencepiece_tokenizer {
public:
    /// Loads a serialized SentencePiece ModelProto; throws runtime_error naming the file.
    static sentencepiece_tokenizer from_model_file(const std::string& path) {
        sentencepiece_tokenizer t;
        t.sp_ = std::make_shared<sentencepiece::SentencePieceProcessor>();
        const auto st = t.sp_->Load(path);
        if (!st.ok()) throw std::runtime_error(path + ": not a SentencePiece model: " + st.ToString());
        return t;
    }

    std::size_t vocab_size() const { return static_cast<std::size_t>(sp_->GetPieceSize()); }
    int bos() const { return sp_->bos_id(); }
    int eos() const { return sp_->eos_id(); }
    int unk() const { return sp_->unk_id(); }
    bool add_bos() const { return sp_->bos_id() >= 0; }  // Llama-2's tokenizer_config default
    const std::string& token(int id) const { return sp_->IdToPiece(check(id)); }
    bool is_control(int id) const { return sp_->IsControl(check(id)); }

    /// Token ids of `text` (no BOS added).
    std::vector<int> encode(std::string_view text) const {
        std::vector<int> ids;
        const auto st = sp_->Encode(text, &ids);
        if (!st.ok()) throw std::runtime_error("sentencepiece: encode failed: " + st.ToString());
        return ids;
    }
    /// The text of a sequence (SentencePiece's decoder: dummy prefix dropped, bytes joined).
    std::string decode(const std::vector<int>& ids) const {
        for (int id : ids) check(id);
        std::string out;
        const auto st = sp_->Decode(ids, &out);
        if (!st.ok()) throw std::runtime_error("sentencepiece: decode failed: " + st.ToString());
        return out;
    }
    /// One token's bytes, "▁" as ' ' (for streaming output; control tokens give "").
    std::string decode_token(int id) const {
        check(id);
        if (sp_->IsControl(id)) return {};
        const std::string& p = sp_->IdToPiece(id);
        if (sp_->IsByte(id) && p.size() == 6) return std::string(1, static_cast<char>(std::stoi(p.substr(3, 2), nullptr, 16)));
        std::string out;
        for (std::size_t i = 0; i < p.size();) {
            if (p.compare(i, 3, "\xE2\x96\x81") == 0) out += ' ', i += 3;
            else out += p[i++];
        }
        return out;
    }

private:
    int check(int id) const {
        if (id < 0 || id >= sp_->GetPieceSize())
            throw std::out_of_range("sentencepiece: token id " + std::to_string(id) + " outside the vocabulary (" +
                                    std::to_string(sp_->GetPieceSize()) + ")");
        return id;
    }
    std::shared_ptr<sentencepiece::SentencePieceProcessor> sp_;
};

}  // namespace lowrank::runtime
