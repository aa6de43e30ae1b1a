//! How many rows go in one multi-row statement.

/// Row counts a multi-row statement is cut into. Each count is one SQL text, and the database
/// driver prepares and keeps (per connection) every text it sees: batches of any size would leave
/// one cached statement per size ever seen, tens of kilobytes each, which grew the server's
/// memory for as long as it ran. With these, at most five texts per statement exist.
pub(super) const CHUNK_SIZES: [usize; 5] = [256, 64, 16, 4, 1];

/// `items` cut greedily into chunks of the [`CHUNK_SIZES`].
pub(crate) fn fixed_chunks<T>(mut items: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        let size = CHUNK_SIZES.into_iter().find(|size| *size <= items.len())?;
        let (chunk, rest) = items.split_at(size);
        items = rest;
        Some(chunk)
    })
}
