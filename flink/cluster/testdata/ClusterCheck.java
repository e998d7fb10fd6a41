// Two small DataStream jobs that the cluster test submits to the local Flink
// session cluster (flink/cluster/cluster_test.go). The Flink wheels on PyPI
// carry no examples/ folder, so this stands in for Flink's WordCount example;
// the test compiles it with javac against lib/flink-dist.
//
//   ClusterCheck wordcount            count the words of a fixed text, print
//                                     "(word,count)" to the TaskManager's stdout
//   ClusterCheck slow N DELAY_MS      sum 1..N per key (n % 4) in keyed state,
//                                     DELAY_MS per record, so the job runs long
//                                     enough to take checkpoints and survive a
//                                     TaskManager kill; prints "sum k=<key> <sum>"
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

public class ClusterCheck {
    static final String TEXT = "to be or not to be that is the question "
            + "whether tis nobler in the mind to suffer "
            + "the slings and arrows of outrageous fortune";

    public static void main(String[] args) throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        String mode = args.length > 0 ? args[0] : "wordcount";
        if (mode.equals("wordcount")) {
            env.fromData(TEXT.split(" "))
                    .map(w -> Tuple2.of(w, 1))
                    .returns(Types.TUPLE(Types.STRING, Types.INT))
                    .keyBy(t -> t.f0)
                    .reduce((a, b) -> Tuple2.of(a.f0, a.f1 + b.f1))
                    .print("wordcount");
            env.execute("clustercheck-wordcount");
        } else if (mode.equals("slow")) {
            long n = Long.parseLong(args[1]);
            long delay = Long.parseLong(args[2]);
            env.fromSequence(1, n)
                    .map(x -> {
                        Thread.sleep(delay);
                        return Tuple2.of(x % 4, x);
                    })
                    .returns(Types.TUPLE(Types.LONG, Types.LONG))
                    .keyBy(t -> t.f0)
                    .reduce((a, b) -> Tuple2.of(a.f0, a.f1 + b.f1))
                    .map(t -> "sum k=" + t.f0 + " " + t.f1)
                    .returns(Types.STRING)
                    .print("slow");
            env.execute("clustercheck-slow");
        } else {
            throw new IllegalArgumentException("unknown mode " + mode);
        }
    }
}
