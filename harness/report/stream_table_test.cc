// The streaming-inference table on synthetic results: means, relative speeds against the
// Transformer, latency growth, state per stream, skips, and the Markdown as a whole (golden).
#include "harness/report/stream_table.h"

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "harness/report/result_io.h"
#include "harness/report/test_util.h"

namespace lra::report {
namespace {

using harness::StreamResult;

StreamResult Point(const std::string& model, int context, int streams, double tokens_per_second,
                   int64_t state_bytes) {
  StreamResult r;
  r.set_model(model);
  r.set_task("text");
  r.set_tier("small");
  r.set_context(context);
  r.set_streams(streams);
  r.set_timed_steps(256);
  r.set_tokens_per_second(tokens_per_second);
  r.set_seconds_per_step(tokens_per_second > 0 ? streams / tokens_per_second : 0);
  r.set_state_bytes_per_stream(state_bytes);
  r.set_threads(2);
  r.set_machine("test machine");
  if (model == "transformer") {
    for (const char* o : {"causal=true", "cls=false", "pool=mean"}) r.add_model_options(o);
  } else {
    for (const char* o : {"bidirectional=false", "pool=mean"}) r.add_model_options(o);
  }
  return r;
}

// Synthetic: the Transformer's per-token time grows with the context (its cache with it), the
// recurrences' stays flat.
std::vector<StreamResult> Sample() {
  std::vector<StreamResult> v = {
      Point("transformer", 1024, 1, 1000, 1 << 20),
      Point("transformer", 4096, 1, 250, 4 << 20),
      Point("transformer", 16384, 1, 62.5, 16 << 20),
      Point("mamba", 1024, 1, 2000, 40960),
      Point("mamba", 4096, 1, 2000, 40960),
      Point("mamba", 16384, 1, 2000, 40960),
      Point("mamba", 4096, 1, 4000, 40960),  // a repeat at 4K: the mean, 3000
      Point("lstm", 1024, 1, 5000, 512),
      Point("lstm", 4096, 1, 5000, 512),
      Point("transformer", 1024, 8, 4000, 1 << 20),
      Point("transformer", 4096, 8, 1000, 4 << 20),
      Point("mamba", 1024, 8, 8000, 40960),
      Point("mamba", 4096, 8, 8000, 40960),
  };
  StreamResult skipped = Point("lstm", 16384, 1, 0, 0);
  skipped.set_skipped_reason("interrupted");
  skipped.set_timed_steps(0);
  v.push_back(skipped);
  v[2].set_rss_growth_bytes_per_stream(16 << 20);
  v[5].set_rss_growth_bytes_per_stream(0);
  return v;
}

TEST(StreamTableTest, MeansRelativeSpeedsAndGrowth) {
  const StreamTableData t = BuildStreamTable(Sample(), {});
  ASSERT_EQ(t.contexts, (std::vector<int>{1024, 4096, 16384}));
  ASSERT_EQ(t.blocks.size(), 2u);
  const StreamBlock& one = t.blocks[0];
  EXPECT_EQ(one.streams, 1);
  ASSERT_EQ(one.rows.size(), 3u);
  EXPECT_EQ(one.rows[0].model, "transformer");  // the reference first, then by name
  EXPECT_EQ(one.rows[1].model, "lstm");
  EXPECT_EQ(one.rows[2].model, "mamba");
  const StreamRow& mamba = one.rows[2];
  EXPECT_EQ(mamba.cells[1].n, 2);
  EXPECT_DOUBLE_EQ(mamba.cells[1].tokens_per_second, 3000);
  EXPECT_DOUBLE_EQ(*mamba.cells[1].relative, 12);  // 3000 / 250
  EXPECT_DOUBLE_EQ(*mamba.cells[2].relative, 32);  // 2000 / 62.5
  EXPECT_DOUBLE_EQ(*one.rows[0].latency_growth, 16);
  EXPECT_DOUBLE_EQ(*mamba.latency_growth, 1);
  EXPECT_TRUE(one.rows[1].cells[2].skipped);
  EXPECT_FALSE(one.rows[1].latency_growth.has_value());  // no 16K measurement
  EXPECT_EQ(*one.rows[0].cells[2].rss_growth_bytes_per_stream, 16 << 20);
  EXPECT_TRUE(t.notes.empty());
  ASSERT_EQ(t.claims.size(), 2u);  // latency growth (1 stream only: no 16K with 8), mamba at 4K
  // Without the reference model: no relative speeds, and a note says so.
  const StreamTableData none = BuildStreamTable({Point("mamba", 1024, 1, 10, 1)}, {});
  EXPECT_FALSE(none.blocks[0].rows[0].cells[0].relative.has_value());
  ASSERT_EQ(none.notes.size(), 1u);
}

TEST(StreamTableTest, FormatBytes) {
  EXPECT_EQ(FormatBytes(512), "512 B");
  EXPECT_EQ(FormatBytes(40960), "40.0 KiB");
  EXPECT_EQ(FormatBytes(16 << 20), "16.0 MiB");
  EXPECT_EQ(FormatBytes(int64_t{3} << 29), "1.50 GiB");
}

constexpr char kGoldenMarkdown[] = R"(# Streaming inference (one token at a time)

Ours: `lra bench --mode=stream`, task text, tier small, threads 2, machine: test machine. Each model runs in its streaming form (options below). A cell times 256 Steps centred on the context C (stream positions C - W/2 to C + W/2 - 1, W the Steps timed), after stepping every stream there untimed; a Step advances every stream by one token. tokens/s = streams x Steps / seconds (in brackets: relative to the first row at the same context and streams); ms/token = the wall time of one Step. Latency growth = ms/token at 16K over 1K: about 1 for a constant-size state (RNN, SSM), about the context ratio for attention over a key/value cache.

## 1 stream

| Model | tokens/s 1K | tokens/s 4K | tokens/s 16K | ms/token 1K | ms/token 4K | ms/token 16K | latency 16K / 1K |
|---|---:|---:|---:|---:|---:|---:|---:|
| transformer | 1000 (1.00x) | 250 (1.00x) | 62.5 (1.00x) | 1.00 | 4.00 | 16.0 | 16.00x |
| lstm | 5000 (5.00x) | 5000 (20.00x) | skipped (interrupted) | 0.200 | 0.200 | — | — |
| mamba | 2000 (2.00x) | 3000 (12.00x) | 2000 (32.00x) | 0.500 | 0.375 | 0.500 | 1.00x |

## 8 streams

| Model | tokens/s 1K | tokens/s 4K | tokens/s 16K | ms/token 1K | ms/token 4K | ms/token 16K | latency 16K / 1K |
|---|---:|---:|---:|---:|---:|---:|---:|
| transformer | 4000 (1.00x) | 1000 (1.00x) | — | 2.00 | 8.00 | — | — |
| mamba | 8000 (2.00x) | 8000 (8.00x) | — | 1.00 | 1.00 | — | — |

## State held per stream

Analytic (RecurrentModel::StateBytes: SSM state and conv window, RNN h/c, the Transformer's key/value cache at that context), and measured: the growth of the process RSS per stream from the window at 1K to the window at 16K (the largest over stream counts).

| Model | state 1K | state 4K | state 16K | RSS growth 1K to 16K |
|---|---:|---:|---:|---:|
| transformer | 1.0 MiB | 4.0 MiB | 16.0 MiB | 16.0 MiB |
| lstm | 512 B | 512 B | — | — |
| mamba | 40.0 KiB | 40.0 KiB | 40.0 KiB | 0 B |

Model options over the tier's Text config:

- transformer: causal=true, cls=false, pool=mean
- lstm: bidirectional=false, pool=mean
- mamba: bidirectional=false, pool=mean

## Claims

- Per-token latency from 1K to 16K (16x the context), 1 stream: transformer 16.00x, mamba 1.00x (constant per-token cost: about 1x).
- mamba over transformer in tokens/s at 4K: 12.00x with 1 stream, 8.00x with 8 streams (claimed: 5x).
)";

TEST(StreamTableTest, GoldenMarkdown) {
  const std::string md = StreamTableMarkdown(BuildStreamTable(Sample(), {}));
  EXPECT_EQ(md, kGoldenMarkdown) << md;
}

TEST(StreamTableTest, CsvJsonAndPlot) {
  const StreamTableData t = BuildStreamTable(Sample(), {});
  const auto rows = ParseCsv(StreamTableCsv(t));
  ASSERT_EQ(rows.size(), 1u + 13u);  // header + every (model, streams, context) measured or skipped
  EXPECT_EQ(rows[0][0], "model");
  EXPECT_EQ(rows[1], (std::vector<std::string>{"transformer", "1", "1024", "1", "1000", "0.001",
                                               "1", "1048576", "", "causal=true cls=false pool=mean",
                                               ""}));
  const std::string json = StreamTableJson(t);
  EXPECT_NE(json.find("\"contexts\": [1024, 4096, 16384]"), std::string::npos) << json;
  EXPECT_NE(json.find("\"latency_growth\":16"), std::string::npos) << json;
  const std::string svg = StreamPlotSvg(t, "title");
  EXPECT_TRUE(CheckWellFormed(svg).ok()) << CheckWellFormed(svg);
  EXPECT_NE(svg.find("8 streams"), std::string::npos);
}

TEST(StreamTableTest, WritesTheFilesFromResultFiles) {
  const std::string dir = ::testing::TempDir() + "/stream_table_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir + "/bench");
  for (const StreamResult& r : Sample()) {
    ASSERT_TRUE(WriteStreamResult(dir + "/bench/" + StreamFileName(r) +
                                      (r.model() == "mamba" && r.tokens_per_second() == 4000
                                           ? ".repeat.json"
                                           : ""),
                                  r)
                    .ok());
  }
  auto files = WriteStreamTables(dir + "/bench", dir, {});
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ(files->runs, 14);
  EXPECT_EQ(files->written.size(), 4u);
  for (const char* name : {"stream_table.md", "stream_table.csv", "stream_table.json", "stream.svg"})
    EXPECT_TRUE(std::filesystem::exists(dir + "/" + name)) << name;
  // A result that breaks the invariants is refused with the file's name.
  StreamResult bad = Sample()[0];
  bad.set_tokens_per_second(0);
  const absl::Status st = WriteStreamResult(dir + "/bad.json", bad);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(std::string(st.message()).find("bad.json"), std::string::npos) << st;
  EXPECT_FALSE(WriteStreamTables(dir + "/nothing_here", dir, {}).ok());
}

}  // namespace
}  // namespace lra::report
