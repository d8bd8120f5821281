// Parse a podcast feed with podcast-partytime (a real Podcasting 2.0 parser) and print what it saw as JSON.
// Usage: node tests/js/partytime.cjs NODE_MODULES/podcast-partytime FEED.xml
// (the module's folder as pipeline.system.locate finds it)
"use strict";
const fs = require("fs");
const { parseFeed } = require(process.argv[2]);

const xml = fs.readFileSync(process.argv[3], "utf8");
const feed = parseFeed(xml, { allowMissingGuid: false });
if (!feed) {
  process.stderr.write("partytime could not parse the feed\n");
  process.exit(1);
}
const out = {
  title: feed.title,
  link: feed.link,
  language: feed.language,
  explicit: feed.explicit,
  itunesImage: feed.itunesImage || null,
  itunesType: feed.itunesType || null,
  itunesCategory: feed.itunesCategory || null,
  author: feed.author || null,
  owner: feed.owner || null,
  guid: feed.guid || null,
  locked: feed.locked === undefined ? null : feed.locked,
  podcastOwner: feed.podcastOwner || null,
  people: feed.podcastPeople || [],
  license: feed.license || null,
  items: (feed.items || []).map((it) => ({
    title: it.title,
    guid: it.guid,
    enclosure: it.enclosure,
    duration: it.duration,
    pubDate: it.pubDate ? new Date(it.pubDate).toISOString() : null,
    episode: it.podcastEpisode ? it.podcastEpisode.number : (it.itunesEpisode === undefined ? null : it.itunesEpisode),
    episodeType: it.itunesEpisodeType || null,
    chapters: it.podcastChapters || null,
    transcripts: it.podcastTranscripts || [],
    description: it.description || "",
  })),
};
process.stdout.write(JSON.stringify(out));
