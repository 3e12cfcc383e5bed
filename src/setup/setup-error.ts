/** The one error the declarative setup throws: every problem found, each naming its entry. */
export class SetupError extends Error {
  constructor(
    readonly problems: string[],
    heading = 'invalid setup configuration',
  ) {
    super(problems.length === 1 ? `${heading}: ${problems[0]}` : `${heading}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'SetupError';
  }
}

/** One entry cannot be written as asked (a clash with existing rows); the caller adds which entry. */
export class SetupConflict extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SetupConflict';
  }
}
