// Package countmerge adds two lists of counts keyed by sorted, distinct
// strings into one such list. Stages that combine per-period partial counts
// in Beam (the watchlist's matches per author, the trending post counts per
// ranking language) keep them in this form rather than in maps: a sorted
// pair of slices encodes deterministically and is cheap to merge, and with
// one merge the stages add their partial counts alike.
package countmerge

// Add returns the counts of (aKeys, aCounts) and (bKeys, bCounts) together:
// the union of the keys, sorted, each with the sum of its counts. Each input
// is a list of keys in ascending order without repeats and the counts at
// the same indexes. The result is in new slices (nil when both inputs are
// empty): the inputs are often pipeline elements, which must not change.
func Add(aKeys []string, aCounts []int64, bKeys []string, bCounts []int64) (keys []string, counts []int64) {
	i, j := 0, 0
	for i < len(aKeys) || j < len(bKeys) {
		switch {
		case j == len(bKeys) || (i < len(aKeys) && aKeys[i] < bKeys[j]):
			keys, counts = append(keys, aKeys[i]), append(counts, aCounts[i])
			i++
		case i == len(aKeys) || bKeys[j] < aKeys[i]:
			keys, counts = append(keys, bKeys[j]), append(counts, bCounts[j])
			j++
		default:
			keys, counts = append(keys, aKeys[i]), append(counts, aCounts[i]+bCounts[j])
			i, j = i+1, j+1
		}
	}
	return keys, counts
}
