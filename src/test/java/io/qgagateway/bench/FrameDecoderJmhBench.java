package io.qgagateway.bench;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

import java.util.Collection;

/**
 * Benchmark 6: {@link FrameDecoderBenchmark} under JMH (forked JVM, short iterations), with the
 * results turned into MB/s and objects/s.
 * {@code mvn -B -q test -Pbench -Dtest=FrameDecoderJmhBench [-Dbench.forks=1]
 * [-Dbench.iterations=5] [-Dbench.iterationSeconds=1]}
 */
@Tag("bench")
class FrameDecoderJmhBench {

  @Test
  void frameDecoder() throws Exception {
    int forks = BenchSupport.intProp("bench.forks", 1);
    int iterations = BenchSupport.intProp("bench.iterations", 5);
    int seconds = BenchSupport.intProp("bench.iterationSeconds", 1);
    BenchSupport.Report report = new BenchSupport.Report("frame-decoder-jmh");
    report.format("JMH 1.37, throughput mode, %d fork(s), %d warm-up + %d measured iterations of "
        + "%d s, 8 KiB chunks", forks, 3, iterations, seconds);
    Options options = new OptionsBuilder()
        .include(FrameDecoderBenchmark.class.getName() + ".decode")
        .forks(forks)
        .warmupIterations(3)
        .warmupTime(TimeValue.seconds(seconds))
        .measurementIterations(iterations)
        .measurementTime(TimeValue.seconds(seconds))
        .jvmArgsAppend("-Xmx512m")
        .shouldFailOnError(true)
        .build();
    Collection<RunResult> results = new Runner(options).run();
    for (RunResult r : results) {
      String workload = r.getParams().getParam("workload");
      FrameDecoderBenchmark probe = new FrameDecoderBenchmark();
      probe.workload = workload;
      probe.chunk = Integer.parseInt(r.getParams().getParam("chunk"));
      probe.setUp(null);
      double opsPerSecond = r.getPrimaryResult().getScore();
      double error = r.getPrimaryResult().getScoreError();
      report.format("%-10s %8.1f ops/s ±%.1f  %9.1f MB/s  %12.0f objects/s  (%d bytes, %d objects "
              + "per op)", workload, opsPerSecond, error, opsPerSecond * probe.bytesPerOp / 1e6,
          opsPerSecond * probe.objectsPerOp, probe.bytesPerOp, probe.objectsPerOp);
    }
    report.write();
  }
}
