/**
 * How long one pull waits at the broker for a job before asking again, in ms. Every bunqueue Worker of this
 * process long-polls: a new or promoted job starts at once, and an idle worker costs one broker round trip
 * per wait instead of one per 50 ms idle poll (the library's default without a poll timeout).
 */
export const brokerLongPollMs = 5000;
