import { describe, expect, it } from 'vitest';
import {
  compileTimeInterval,
  compileTimeIntervals,
  nextChange,
  TimeIntervalError,
  timeIntervalSchema,
  timeIntervalsSchema,
  type TimeIntervalEntrySpec,
} from '../../../src/route/time-interval.ts';

const at = (iso: string): number => {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`bad test instant ${iso}`);
  return ms;
};
const interval = (...entries: TimeIntervalEntrySpec[]) => compileTimeInterval(timeIntervalSchema.parse({ name: 'ti', time_intervals: entries }));
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

describe('time interval: contains', () => {
  const businessHours = interval({ weekdays: ['monday:friday'], times: [{ start_time: '09:00', end_time: '17:00' }] });
  it.each([
    ['2025-06-02T09:00:00Z', true], // Monday, start inclusive
    ['2025-06-02T08:59:59.999Z', false],
    ['2025-06-02T16:59:59Z', true],
    ['2025-06-02T17:00:00Z', false], // end exclusive
    ['2025-06-06T12:00:00Z', true], // Friday
    ['2025-06-07T12:00:00Z', false], // Saturday
    ['2025-06-08T12:00:00Z', false], // Sunday
  ])('business hours (UTC) at %s → %s', (when, expected) => {
    expect(businessHours.contains(at(when))).toBe(expected);
  });

  it.each([
    // Weekday lists and ranges, case-insensitive names.
    [{ weekdays: ['saturday', 'Sunday'] }, '2025-06-07T00:00:00Z', true],
    [{ weekdays: ['saturday', 'sunday'] }, '2025-06-09T00:00:00Z', false],
    [{ weekdays: ['tuesday:thursday'] }, '2025-06-04T23:59:00Z', true], // Wednesday
    [{ weekdays: ['tuesday:thursday'] }, '2025-06-06T00:00:00Z', false], // Friday
    // 24:00 closes the day; 00:00 opens it.
    [{ times: [{ start_time: '22:00', end_time: '24:00' }] }, '2025-06-02T23:59:00Z', true],
    [{ times: [{ start_time: '22:00', end_time: '24:00' }] }, '2025-06-03T00:00:00Z', false],
    [{ times: [{ start_time: '00:00', end_time: '06:00' }] }, '2025-06-03T00:00:00Z', true],
    // Several time ranges in one entry are OR-ed.
    [
      {
        times: [
          { start_time: '00:00', end_time: '06:00' },
          { start_time: '22:00', end_time: '24:00' },
        ],
      },
      '2025-06-03T12:00:00Z',
      false,
    ],
    [
      {
        times: [
          { start_time: '00:00', end_time: '06:00' },
          { start_time: '22:00', end_time: '24:00' },
        ],
      },
      '2025-06-03T22:30:00Z',
      true,
    ],
    // Negative days of month: the last day, leap and non-leap February.
    [{ days_of_month: ['-1'] }, '2024-02-29T12:00:00Z', true],
    [{ days_of_month: ['-1'] }, '2024-02-28T12:00:00Z', false],
    [{ days_of_month: ['-1'] }, '2025-02-28T12:00:00Z', true],
    [{ days_of_month: ['-3:-1'] }, '2025-02-26T00:00:00Z', true],
    [{ days_of_month: ['-3:-1'] }, '2025-02-25T23:59:00Z', false],
    [{ days_of_month: ['-3:-1'] }, '2024-02-27T00:00:00Z', true],
    [{ days_of_month: ['-3:-1'] }, '2024-02-26T00:00:00Z', false],
    [{ days_of_month: ['-3:-1'] }, '2025-01-29T00:00:00Z', true],
    [{ days_of_month: ['1:5'] }, '2025-03-05T23:59:00Z', true],
    [{ days_of_month: ['1:5'] }, '2025-03-06T00:00:00Z', false],
    [{ days_of_month: ['1:-1'] }, '2025-04-30T00:00:00Z', true],
    // Days past the end of a short month: 30:31 never matches February; 25:31 is clamped.
    [{ days_of_month: ['30:31'] }, '2024-02-29T12:00:00Z', false],
    [{ days_of_month: ['25:31'] }, '2025-02-28T12:00:00Z', true],
    // Months by name and by number.
    [{ months: ['january:march'] }, '2025-03-31T23:59:00Z', true],
    [{ months: ['january:march'] }, '2025-04-01T00:00:00Z', false],
    [{ months: ['1:3'] }, '2025-02-10T00:00:00Z', true],
    [{ months: ['December'] }, '2025-12-24T18:00:00Z', true],
    [{ months: ['12'] }, '2025-11-30T18:00:00Z', false],
    // Years.
    [{ years: ['2025:2027'] }, '2027-12-31T23:59:00Z', true],
    [{ years: ['2025:2027'] }, '2028-01-01T00:00:00Z', false],
    [{ years: ['2024'] }, '2024-12-31T23:59:00Z', true],
    // All fields must match.
    [{ months: ['december'], days_of_month: ['24:26'], years: ['2025'] }, '2025-12-25T10:00:00Z', true],
    [{ months: ['december'], days_of_month: ['24:26'], years: ['2025'] }, '2024-12-25T10:00:00Z', false],
    // An empty entry matches always.
    [{}, '2031-07-01T03:04:00Z', true],
  ] as const)('%j at %s → %s', (entry, when, expected) => {
    expect(interval(entry as TimeIntervalEntrySpec).contains(at(when))).toBe(expected);
  });

  it('reads the fields on the wall clock of its location, across DST (Europe/Berlin)', () => {
    const berlin = interval({ location: 'Europe/Berlin', times: [{ start_time: '09:00', end_time: '17:00' }], weekdays: ['monday:friday'] });
    // Winter (CET, UTC+1): 09:00 local = 08:00Z.
    expect(berlin.contains(at('2025-03-28T07:59:00Z'))).toBe(false);
    expect(berlin.contains(at('2025-03-28T08:00:00Z'))).toBe(true);
    expect(berlin.contains(at('2025-03-28T15:59:00Z'))).toBe(true);
    expect(berlin.contains(at('2025-03-28T16:00:00Z'))).toBe(false);
    // Summer (CEST, UTC+2), the Monday after the switch: 09:00 local = 07:00Z.
    expect(berlin.contains(at('2025-03-31T07:00:00Z'))).toBe(true);
    expect(berlin.contains(at('2025-03-31T06:59:00Z'))).toBe(false);
    expect(berlin.contains(at('2025-03-31T15:00:00Z'))).toBe(false);
    // A UTC Sunday evening is already Monday in Berlin.
    expect(interval({ location: 'Europe/Berlin', weekdays: ['monday'] }).contains(at('2025-06-01T22:30:00Z'))).toBe(true);
  });

  it('handles the skipped and the repeated hour (Europe/Berlin, 2025-03-30 and 2025-10-26)', () => {
    const twoToThree = interval({ location: 'Europe/Berlin', times: [{ start_time: '02:00', end_time: '03:00' }] });
    // 02:00-03:00 does not exist on 30 March: 00:59Z is 01:59 CET, 01:00Z is 03:00 CEST.
    expect(twoToThree.contains(at('2025-03-30T00:59:00Z'))).toBe(false);
    expect(twoToThree.contains(at('2025-03-30T01:00:00Z'))).toBe(false);
    // On 26 October it happens twice: 00:00Z-01:00Z (CEST) and 01:00Z-02:00Z (CET).
    expect(twoToThree.contains(at('2025-10-26T00:30:00Z'))).toBe(true);
    expect(twoToThree.contains(at('2025-10-26T01:30:00Z'))).toBe(true);
    expect(twoToThree.contains(at('2025-10-26T02:00:00Z'))).toBe(false);
  });

  it('America/Los_Angeles: PST and PDT, and the local date differs from UTC', () => {
    const la = interval({ location: 'America/Los_Angeles', times: [{ start_time: '18:00', end_time: '24:00' }], days_of_month: ['-1'] });
    // 31 Jan 2025 18:00 PST = 1 Feb 02:00Z, the UTC date is already February.
    expect(la.contains(at('2025-02-01T02:00:00Z'))).toBe(true);
    expect(la.contains(at('2025-02-01T01:59:00Z'))).toBe(false);
    expect(la.contains(at('2025-02-01T08:00:00Z'))).toBe(false); // midnight PST: 1 Feb locally
    // 31 Jul 2025 18:00 PDT = 1 Aug 01:00Z.
    expect(la.contains(at('2025-08-01T01:00:00Z'))).toBe(true);
    expect(la.contains(at('2025-08-01T00:59:00Z'))).toBe(false);
  });

  it('OR-s several time_intervals, each in its own location', () => {
    const ti = interval(
      { location: 'Europe/Berlin', weekdays: ['saturday', 'sunday'] },
      { location: 'America/Los_Angeles', times: [{ start_time: '00:00', end_time: '06:00' }] },
    );
    expect(ti.contains(at('2025-06-07T10:00:00Z'))).toBe(true); // Saturday in Berlin
    expect(ti.contains(at('2025-06-04T08:00:00Z'))).toBe(true); // 01:00 PDT on a Wednesday
    expect(ti.contains(at('2025-06-04T14:00:00Z'))).toBe(false);
    expect(ti.contains(at('2025-06-06T22:30:00Z'))).toBe(true); // Friday 22:30Z = Saturday 00:30 in Berlin
  });
});

describe('time interval: schema', () => {
  const errors = (entry: unknown): string[] => {
    const r = timeIntervalSchema.safeParse({ name: 'x', time_intervals: [entry] });
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it.each([
    [{ times: [{ start_time: '25:00', end_time: '26:00' }] }, 'time_intervals.0.times.0.start_time: "25:00" is not a time (HH:MM, 00:00-24:00)'],
    [{ times: [{ start_time: '9:00', end_time: '17:00' }] }, '"9:00" is not a time (HH:MM, 00:00-24:00)'],
    [{ times: [{ start_time: '09:00', end_time: '24:01' }] }, '"24:01" is not a time'],
    [{ times: [{ start_time: '17:00', end_time: '09:00' }] }, 'time_intervals.0.times.0.end_time: end_time "09:00" must be after start_time "17:00"'],
    [{ times: [{ start_time: '09:00', end_time: '09:00' }] }, 'must be after start_time'],
    [{ times: [{ start_time: '09:00' }] }, 'time_intervals.0.times.0.end_time'],
    [{ weekdays: ['funday'] }, '"funday" is not a weekday'],
    [{ weekdays: ['saturday:sunday'] }, 'saturday comes after sunday'],
    [{ weekdays: ['monday:tuesday:friday'] }, 'is not a weekday or a weekday range'],
    [{ days_of_month: ['0'] }, '"0" is not a day of the month'],
    [{ days_of_month: ['32'] }, '"32" is not a day of the month'],
    [{ days_of_month: ['-1:5'] }, 'the end day must be negative when the start day is'],
    [{ days_of_month: ['10:5'] }, 'end day 5 is always before start day 10'],
    [{ months: ['smarch'] }, '"smarch" is not a month'],
    [{ months: ['13'] }, '"13" is not a month'],
    [{ months: ['december:january'] }, 'end month january is before start month december'],
    [{ years: ['2027:2025'] }, 'end year 2025 is before start year 2027'],
    [{ years: ['twenty'] }, '"twenty" is not a year'],
    [{ location: 'Mars/Olympus_Mons' }, '"Mars/Olympus_Mons" is not an IANA time zone'],
    [{ location: '+01:00' }, 'is not an IANA time zone'],
    [{ weekdays: [] }, 'weekdays is empty: omit the field to match any weekday'],
    [{ weekday: ['monday'] }, 'weekday'], // strict: unknown key
  ])('%j → %s', (entry, message) => {
    expect(errors(entry).join('\n')).toContain(message);
  });

  it('accepts a full spec and needs a name and at least one entry', () => {
    expect(
      errors({
        times: [{ start_time: '00:00', end_time: '24:00' }],
        weekdays: ['monday:friday', 'sunday'],
        days_of_month: ['1:5', '-3:-1'],
        months: ['january:march', '1:3', 'december'],
        years: ['2025:2027'],
        location: 'Europe/Berlin',
      }),
    ).toEqual([]);
    expect(timeIntervalSchema.safeParse({ name: '', time_intervals: [{}] }).success).toBe(false);
    expect(timeIntervalSchema.safeParse({ name: 'x', time_intervals: [] }).success).toBe(false);
    expect(timeIntervalSchema.safeParse({ name: 'x', time_intervals: [{}], extra: 1 }).success).toBe(false);
  });

  it('rejects duplicate names in the list, and compile names the interval', () => {
    const r = timeIntervalsSchema.safeParse([
      { name: 'a', time_intervals: [{}] },
      { name: 'a', time_intervals: [{}] },
    ]);
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toBe('time interval "a" is defined twice');
    expect(() =>
      compileTimeIntervals([
        { name: 'a', time_intervals: [{}] },
        { name: 'a', time_intervals: [{}] },
      ]),
    ).toThrow(/defined twice/);
    expect(() => compileTimeInterval({ name: 'night', time_intervals: [{ times: [{ start_time: '23:00', end_time: '07:00' }] }] })).toThrow(TimeIntervalError);
    expect(() => compileTimeInterval({ name: 'night', time_intervals: [{ weekdays: ['fri'] }] })).toThrow('time interval "night": "fri" is not a weekday');
    expect([
      ...compileTimeIntervals([
        { name: 'a', time_intervals: [{}] },
        { name: 'b', time_intervals: [{}] },
      ]).keys(),
    ]).toEqual(['a', 'b']);
  });
});

describe('time interval: nextChange', () => {
  /** The reference answer: scan minute by minute. */
  const bruteForce = (ti: ReturnType<typeof interval>, from: number, horizonMs: number): number | null => {
    const initial = ti.contains(from);
    for (let t = Math.floor(from / 60_000) * 60_000 + 60_000; t <= from + horizonMs; t += 60_000) {
      if (ti.contains(t) !== initial) return t;
    }
    return null;
  };

  const cases: Array<[string, TimeIntervalEntrySpec[], string, string | null]> = [
    [
      'business hours, inside',
      [{ weekdays: ['monday:friday'], times: [{ start_time: '09:00', end_time: '17:00' }] }],
      '2025-06-02T10:15:30Z',
      '2025-06-02T17:00:00.000Z',
    ],
    [
      'business hours, Friday evening → Monday',
      [{ weekdays: ['monday:friday'], times: [{ start_time: '09:00', end_time: '17:00' }] }],
      '2025-06-06T17:00:00Z',
      '2025-06-09T09:00:00.000Z',
    ],
    ['weekend, Berlin', [{ location: 'Europe/Berlin', weekdays: ['saturday', 'sunday'] }], '2025-06-04T12:00:00Z', '2025-06-06T22:00:00.000Z'],
    [
      'Berlin 09:00 across the spring switch',
      [{ location: 'Europe/Berlin', times: [{ start_time: '09:00', end_time: '10:00' }] }],
      '2025-03-29T12:00:00Z',
      '2025-03-30T07:00:00.000Z',
    ],
    [
      'Berlin 02:00-03:00, skipped hour → next day',
      [{ location: 'Europe/Berlin', times: [{ start_time: '02:00', end_time: '03:00' }] }],
      '2025-03-29T12:00:00Z',
      '2025-03-31T00:00:00.000Z',
    ],
    [
      'Berlin 02:00-03:00, repeated hour ends at the second 03:00',
      [{ location: 'Europe/Berlin', times: [{ start_time: '02:00', end_time: '03:00' }] }],
      '2025-10-26T00:10:00Z',
      '2025-10-26T02:00:00.000Z',
    ],
    [
      'Berlin 02:30-03:30 on the autumn switch: leaves at 03:00 CEST, re-enters at 02:30 CET',
      [{ location: 'Europe/Berlin', times: [{ start_time: '02:30', end_time: '03:30' }] }],
      '2025-10-26T00:40:00Z',
      '2025-10-26T01:00:00.000Z',
    ],
    [
      'LA 00:00-06:00 across the autumn switch',
      [{ location: 'America/Los_Angeles', times: [{ start_time: '00:00', end_time: '06:00' }] }],
      '2025-11-02T08:00:00Z',
      '2025-11-02T14:00:00.000Z',
    ],
    ['last day of a leap February', [{ days_of_month: ['-1'] }], '2024-02-24T00:00:00Z', '2024-02-29T00:00:00.000Z'],
    ['nothing changes within the horizon', [{ months: ['june'] }], '2025-06-02T00:00:00Z', null],
    ['24:00 end flips at midnight', [{ times: [{ start_time: '22:00', end_time: '24:00' }] }], '2025-06-02T23:00:00Z', '2025-06-03T00:00:00.000Z'],
    [
      'two entries OR-ed: the union flips only when both are out',
      [{ times: [{ start_time: '08:00', end_time: '12:00' }] }, { times: [{ start_time: '11:00', end_time: '14:00' }] }],
      '2025-06-02T09:00:00Z',
      '2025-06-02T14:00:00.000Z',
    ],
  ];

  it.each(cases)('%s', (_name, entries, from, expected) => {
    const ti = interval(...entries);
    const got = nextChange(ti, at(from));
    expect(iso(got)).toBe(expected);
    // Same answer as scanning every minute (the reference), and the value really flips there.
    expect(iso(got)).toBe(iso(bruteForce(ti, at(from), 7 * 86_400_000)));
    if (got !== null) expect(ti.contains(got)).not.toBe(ti.contains(at(from)));
  });

  it('honours the horizon', () => {
    const ti = interval({ weekdays: ['monday:friday'], times: [{ start_time: '09:00', end_time: '17:00' }] });
    expect(nextChange(ti, at('2025-06-06T17:00:00Z'), 86_400_000)).toBeNull();
    expect(iso(nextChange(ti, at('2025-06-06T17:00:00Z'), 3 * 86_400_000))).toBe('2025-06-09T09:00:00.000Z');
  });

  it('agrees with a minute scan over many start instants (Berlin business hours, DST week)', () => {
    const ti = interval(
      {
        location: 'Europe/Berlin',
        weekdays: ['monday:friday'],
        times: [
          { start_time: '08:30', end_time: '12:00' },
          { start_time: '13:00', end_time: '17:45' },
        ],
      },
      { location: 'America/Los_Angeles', days_of_month: ['-1'], times: [{ start_time: '23:00', end_time: '24:00' }] },
    );
    for (let from = at('2025-10-24T00:00:00Z'); from < at('2025-11-04T00:00:00Z'); from += 97 * 60_000 + 13_000) {
      expect(iso(nextChange(ti, from, 2 * 86_400_000))).toBe(iso(bruteForce(ti, from, 2 * 86_400_000)));
    }
  });

  it('finds no change within a week where none is due, and refuses an interval it did not compile', () => {
    const ti = interval({ location: 'Europe/Berlin', years: ['2030'] }, { location: 'America/Los_Angeles', weekdays: ['sunday'], months: ['february'] });
    for (let i = 0; i < 20; i++) expect(nextChange(ti, at('2025-03-27T00:00:00Z') + i * 3_600_000)).toBeNull();
    expect(() => nextChange({ name: 'fake', contains: () => true }, 0)).toThrow(TypeError);
  });
});
