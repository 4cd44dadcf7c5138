//! Built-in story corpus: a deterministic, seeded generator of simple English
//! children's stories (short sentences, simple words, a tiny plot), so the
//! workbench can train and probe a model without downloading any data set.
//!
//! The templates and word lists below were written for this project. Each
//! story has a cast (a hero, a helper friend, sometimes a pet), a prized
//! object, and one of four plots (the object is lost, taken by an animal,
//! stuck up high, or broken). The hero and the object are introduced in the
//! first sentences and named again all through the story, and a closing
//! "callback" paragraph names them once more, usually 150+ words after their
//! introduction. Those long-range re-mentions are what a model with long
//! memory can exploit, and [`Story::mentions`] records every one of them (byte
//! offsets) so a recall probe can score the model on exactly those name
//! tokens, bucketed by distance.
//!
//! Everything is a pure function of `(seed, index)`: story `i` does not depend
//! on stories before it, so any slice of the corpus can be regenerated alone.

use crate::rng::Rng;

// ---------------------------------------------------------------------------
// Word lists. Names are single capitalised words that are not also ordinary
// English words (no "May", "Rose", "Will"), so every occurrence of a name in
// the text really is a mention of that character.
// ---------------------------------------------------------------------------

const GIRL_NAMES: &[&str] = &[
    "Mila", "Lena", "Ava", "Zoe", "Nora", "Ella", "Maya", "Lucy", "Anna", "Emma", "Sara", "Lola", "Nina", "Tara", "Rosa", "Clara", "Hana",
    "Kiko", "Amara", "Zara", "Leila", "Freya", "Greta", "Ingrid", "Astrid", "Elsa", "Fiona", "Heidi", "Ines", "Jana", "Kira", "Lina",
    "Mira", "Nadia", "Olga", "Paula", "Quinn", "Rina", "Sofia", "Talia", "Uma", "Vera", "Wanda", "Yara", "Zelda", "Abby", "Bella", "Cora",
    "Dana", "Edie", "Faye", "Gina", "Hazel", "Isla", "Jade", "Kate", "Laila", "Molly", "Nell", "Pia", "Sadie", "Tessa", "Una", "Vicky",
    "Willa", "Yumi", "Zina", "Alma", "Bea", "Cleo", "Dora", "Eva", "Flora", "Gemma", "Hattie", "Ida", "Juno", "Keira", "Lottie", "Maisie",
    "Nia", "Orla", "Petra", "Rhea", "Selma", "Thea", "Viola", "Ayla", "Beth", "Celia", "Daria", "Elin", "Frida", "Gloria", "Hedda", "Ilse",
    "Joanna", "Lucia", "Marta", "Noor", "Oona", "Priya", "Rania", "Suki", "Tilly", "Yasmin", "Zuri", "Anya", "Chloe", "Esme",
];

const BOY_NAMES: &[&str] = &[
    "Leo", "Max", "Sam", "Ben", "Tom", "Finn", "Oscar", "Hugo", "Theo", "Noah", "Liam", "Ezra", "Felix", "Jonah", "Milo", "Otto", "Ravi",
    "Omar", "Kai", "Luca", "Arlo", "Bruno", "Caleb", "Dario", "Elias", "Fabio", "Gus", "Hamid", "Ivan", "Jasper", "Karl", "Lars", "Mateo",
    "Nico", "Oliver", "Pablo", "Rafi", "Simon", "Tariq", "Ugo", "Viktor", "Wes", "Yusuf", "Zane", "Adam", "Boris", "Cyrus", "Dev", "Emil",
    "Franz", "George", "Henry", "Isaac", "Jack", "Kofi", "Lenny", "Marco", "Ned", "Owen", "Pete", "Rory", "Seth", "Toby", "Ulrich",
    "Vince", "Walt", "Xavi", "Yuri", "Zeke", "Abel", "Cole", "Dylan", "Eli", "Gabe", "Hank", "Idris", "Jamal", "Kenji", "Levi", "Moses",
    "Nils", "Orion", "Piet", "Remy", "Timo", "Umar", "Vito", "Yann", "Axel", "Bram", "Dino", "Enzo", "Finley", "Gil", "Hiro", "Ike",
    "Joel", "Kurt", "Lou", "Mika", "Nate", "Obi", "Quentin", "Rolf", "Stan", "Ted",
];

/// Pet names: also capitalised single words, disjoint from the people's names.
const PET_NAMES: &[&str] = &[
    "Pip", "Bingo", "Rufus", "Muffin", "Sparky", "Whiskers", "Patch", "Fluff", "Noodle", "Pickles", "Scout", "Ziggy", "Domino", "Pogo",
    "Tinker", "Waffles", "Bubbles", "Dotty", "Gizmo", "Jingles", "Mochi", "Nugget", "Pudding", "Rascal", "Snowball", "Sprout", "Toffee",
    "Widget", "Zippy", "Bandit", "Freckles", "Hopper", "Marbles", "Peanut", "Squeak", "Tumble", "Wiggles", "Doodle", "Fidget", "Nibbles",
    "Pompom", "Socks", "Truffle", "Zuzu",
];

const PET_KINDS: &[&str] =
    &["dog", "puppy", "cat", "kitten", "bunny", "pony", "goat", "parrot", "duckling", "piglet", "lamb", "ferret", "hamster", "tortoise"];

const PET_ADJS: &[&str] = &[
    "fluffy", "sleepy", "spotted", "playful", "tiny", "noisy", "chubby", "clever", "silly", "curious", "speedy", "lazy", "brave",
    "scruffy", "bouncy", "gentle",
];

/// The prized object: a single noun, plus which plots it can take part in.
const LIGHT: u8 = 1; // the wind can carry it up into a tree or onto a roof
const SMALL: u8 = 2; // an animal can run or fly off with it
const FRAGILE: u8 = 4; // a piece can break off it
const OBJECTS: &[(&str, u8)] = &[
    ("kite", LIGHT | FRAGILE),
    ("hat", LIGHT | SMALL),
    ("scarf", LIGHT | SMALL),
    ("balloon", LIGHT),
    ("ribbon", LIGHT | SMALL),
    ("feather", LIGHT | SMALL),
    ("cap", LIGHT | SMALL),
    ("umbrella", LIGHT | FRAGILE),
    ("mitten", LIGHT | SMALL),
    ("flag", LIGHT | SMALL),
    ("glider", LIGHT | FRAGILE),
    ("pinwheel", LIGHT | SMALL | FRAGILE),
    ("blanket", LIGHT),
    ("frisbee", LIGHT | SMALL | FRAGILE),
    ("parasol", LIGHT | FRAGILE),
    ("bonnet", LIGHT | SMALL),
    ("postcard", LIGHT | SMALL),
    ("key", SMALL),
    ("ring", SMALL),
    ("marble", SMALL),
    ("shell", SMALL | FRAGILE),
    ("button", SMALL),
    ("coin", SMALL),
    ("whistle", SMALL | FRAGILE),
    ("bell", SMALL | FRAGILE),
    ("crayon", SMALL | FRAGILE),
    ("spoon", SMALL),
    ("locket", SMALL | FRAGILE),
    ("bracelet", SMALL | FRAGILE),
    ("necklace", SMALL | FRAGILE),
    ("brooch", SMALL | FRAGILE),
    ("thimble", SMALL),
    ("compass", SMALL | FRAGILE),
    ("harmonica", SMALL | FRAGILE),
    ("yoyo", SMALL | FRAGILE),
    ("magnet", SMALL),
    ("badge", SMALL),
    ("medal", SMALL),
    ("flute", SMALL | FRAGILE),
    ("crown", SMALL | FRAGILE),
    ("tiara", SMALL | FRAGILE),
    ("hairclip", SMALL | FRAGILE),
    ("paintbrush", SMALL | FRAGILE),
    ("pencil", SMALL | FRAGILE),
    ("notebook", LIGHT | SMALL),
    ("diary", SMALL),
    ("mirror", SMALL | FRAGILE),
    ("gem", SMALL),
    ("crystal", SMALL | FRAGILE),
    ("flashlight", SMALL | FRAGILE),
    ("puppet", SMALL | FRAGILE),
    ("doll", SMALL | FRAGILE),
    ("robot", SMALL | FRAGILE),
    ("teddy", SMALL | FRAGILE),
    ("drum", FRAGILE),
    ("guitar", FRAGILE),
    ("violin", FRAGILE),
    ("ukulele", FRAGILE),
    ("xylophone", FRAGILE),
    ("tambourine", SMALL | FRAGILE),
    ("trumpet", SMALL | FRAGILE),
    ("kazoo", SMALL | FRAGILE),
    ("rattle", SMALL | FRAGILE),
    ("sailboat", FRAGILE),
    ("airplane", LIGHT | FRAGILE),
    ("rocket", SMALL | FRAGILE),
    ("tractor", SMALL | FRAGILE),
    ("dinosaur", SMALL | FRAGILE),
    ("lantern", FRAGILE),
    ("teapot", FRAGILE),
    ("jar", FRAGILE),
    ("basket", FRAGILE),
    ("bucket", FRAGILE),
    ("shovel", FRAGILE),
    ("wagon", FRAGILE),
    ("scooter", FRAGILE),
    ("globe", SMALL | FRAGILE),
    ("telescope", FRAGILE),
    ("camera", SMALL | FRAGILE),
    ("radio", FRAGILE),
    ("clock", FRAGILE),
    ("lamp", FRAGILE),
    ("vase", FRAGILE),
];

/// Describes the object when it is introduced (its "distinctive adjective").
const OBJ_ADJS: &[&str] = &[
    "shiny",
    "little",
    "tiny",
    "old",
    "sparkly",
    "bright",
    "special",
    "beautiful",
    "funny",
    "striped",
    "spotted",
    "lovely",
    "pretty",
    "fancy",
    "wonderful",
    "lucky",
    "magic",
    "precious",
    "handmade",
    "glittery",
    "shiny new",
    "brand new",
    "small",
    "perfect",
    "famous",
    "dotty",
    "marvelous",
    "cheerful",
    "gleaming",
    "dazzling",
    "velvety",
    "patched",
    "trusty",
    "favorite",
    "squeaky",
    "jingly",
    "plain",
    "chunky",
];

const COLORS: &[&str] = &[
    "red",
    "blue",
    "green",
    "yellow",
    "orange",
    "purple",
    "pink",
    "white",
    "black",
    "brown",
    "gray",
    "golden",
    "silver",
    "turquoise",
    "lilac",
    "crimson",
    "navy",
    "teal",
    "baby blue",
    "cherry red",
    "lemon yellow",
    "mint green",
    "coral",
    "cream",
    "scarlet",
    "violet",
    "indigo",
    "amber",
    "peach",
    "plum",
    "rosy pink",
    "sea green",
];

const OBJ_DETAILS: &[&str] = &[
    "a little star on one side",
    "{his} name written on it",
    "a tiny heart painted on it",
    "a spot of {color} paint on one corner",
    "a small scratch that only {he} knew about",
    "a pattern of little dots",
    "a stripe of {color} around the middle",
    "a moon and three stars drawn on it",
    "a tiny smiling face on it",
    "a sticker shaped like {a:animal}",
];

const TRAITS: &[&str] = &[
    "kind",
    "curious",
    "brave",
    "shy",
    "cheerful",
    "clever",
    "gentle",
    "playful",
    "happy",
    "busy",
    "friendly",
    "thoughtful",
    "careful",
    "funny",
    "polite",
    "chatty",
    "dreamy",
    "helpful",
    "bright",
    "lively",
    "quiet",
    "bold",
    "sweet",
    "eager",
    "patient",
    "bouncy",
    "sleepy",
    "cheeky",
    "tidy",
    "smart",
    "generous",
    "sensible",
    "adventurous",
    "honest",
    "cautious",
    "daring",
    "jolly",
    "merry",
    "nimble",
    "giggly",
    "fearless",
    "loyal",
    "modest",
    "hopeful",
    "imaginative",
    "noisy",
    "sunny",
    "wise",
];

const AGES: &[&str] = &["four", "five", "six", "seven", "eight", "nine"];

const HAIR: &[&str] = &["curly", "red", "dark", "golden", "short", "long", "messy", "brown", "black", "straight", "fluffy", "wavy"];

const GROWNUPS: &[&str] =
    &["grandma", "grandpa", "aunt", "uncle", "mom", "dad", "big sister", "big brother", "nana", "granddad", "mother", "father"];

const HOMES: &[&str] = &[
    "a little house near the woods",
    "a yellow house at the end of the lane",
    "a small cottage by the sea",
    "a tall building in the city",
    "a farmhouse with a red door",
    "a cozy flat above a bakery",
    "a tiny village in the hills",
    "a house with a big garden",
    "a wooden cabin by a lake",
    "a busy town by the river",
    "a quiet street full of trees",
    "a houseboat on a canal",
    "a white house on a windy hill",
    "a crooked little house with a green roof",
    "a sleepy village between two mountains",
    "a stone cottage with roses by the gate",
    "a big old house with creaky stairs",
    "a small town near the desert",
    "a fishing village by the harbor",
    "a blue house next to a duck pond",
    "a round hut with a grass roof",
    "a narrow house squeezed between two shops",
    "a lighthouse keeper's cottage",
    "a farm at the edge of the marsh",
    "an apartment with a tiny balcony",
    "a caravan parked under the pines",
    "a mill house beside the stream",
];

const TOWN_THINGS: &[&str] = &[
    "streets were lined with trees",
    "houses had red roofs",
    "river ran past every door",
    "bakery smelled of fresh bread all day",
    "church bell rang every hour",
    "children played in the square",
    "chimneys puffed little clouds of smoke",
    "market was full of fruit and flowers",
    "ferry crossed the bay twice a day",
    "postman rode a squeaky bicycle",
    "lanterns glowed along the harbor",
    "cats slept on every windowsill",
    "clock tower chimed at noon",
];

/// Things the hero loves to do (base form, after "to").
const LOVES: &[&str] = &[
    "sing",
    "draw pictures",
    "climb trees",
    "build sandcastles",
    "splash in puddles",
    "read stories",
    "count the stars",
    "dance in the kitchen",
    "play hide and seek",
    "pick wild flowers",
    "bake cookies",
    "watch the clouds",
    "feed the ducks",
    "collect pebbles",
    "make paper boats",
    "ride {his} bike",
    "paint",
    "help in the garden",
    "look at bugs",
    "hum little songs",
    "play pretend",
    "skip stones on the water",
    "juggle oranges",
    "whistle tunes",
    "knit scarves",
    "grow tomatoes",
    "fly paper planes",
    "tell jokes",
    "jump rope",
    "play the piano",
    "visit the library",
    "make mud pies",
    "ride the ferry",
    "play marbles",
];

/// Things the hero did (past tense), for the quiet part before the trouble.
const DIDS: &[&str] = &[
    "ran across the grass",
    "skipped along the path",
    "hummed a little song",
    "counted the clouds",
    "picked a bunch of daisies",
    "rolled down a grassy slope",
    "jumped over a puddle",
    "waved at a passing boat",
    "chased a butterfly",
    "played a clapping game",
    "watched the ducks paddle by",
    "made a crown of leaves",
    "found a smooth pebble",
    "drew a picture in the sand",
    "spun around until {he} felt dizzy",
    "climbed onto a big rock",
    "blew on a dandelion",
    "balanced on a log",
    "looked for four-leaf clovers",
    "sang to a sleepy snail",
    "did three cartwheels",
    "made a daisy chain",
    "whistled to a blackbird",
    "built a tower of pebbles",
    "hopped on one foot",
    "traced shapes in the clouds",
    "sniffed the honeysuckle",
    "tiptoed along a wall",
    "twirled like a dancer",
    "stomped in a muddy puddle",
    "watched a snail race",
];

const ANIMALS: &[&str] = &[
    "duck",
    "goose",
    "frog",
    "rabbit",
    "squirrel",
    "deer",
    "hedgehog",
    "owl",
    "robin",
    "sparrow",
    "bee",
    "butterfly",
    "ladybug",
    "snail",
    "beetle",
    "ant",
    "worm",
    "mouse",
    "cow",
    "sheep",
    "horse",
    "pig",
    "hen",
    "rooster",
    "goat",
    "donkey",
    "turtle",
    "fish",
    "swan",
    "heron",
    "crab",
    "seal",
    "otter",
    "beaver",
    "badger",
    "mole",
    "fox",
    "bear",
    "wolf",
    "moose",
    "camel",
    "elephant",
    "lion",
    "tiger",
    "zebra",
    "giraffe",
    "monkey",
    "parrot",
    "penguin",
    "panda",
    "koala",
    "kangaroo",
    "lizard",
    "gecko",
    "chipmunk",
    "raccoon",
    "bat",
    "dragonfly",
    "grasshopper",
    "cricket",
    "caterpillar",
    "firefly",
    "pelican",
    "flamingo",
    "peacock",
    "woodpecker",
    "bluebird",
    "crow",
    "magpie",
    "seagull",
    "puffin",
    "walrus",
    "hippo",
    "llama",
    "alpaca",
    "yak",
    "lamb",
    "calf",
    "pony",
    "kitten",
    "puppy",
    "toad",
    "newt",
    "moth",
    "pigeon",
    "stork",
    "dolphin",
    "ostrich",
    "jaguar",
    "leopard",
    "cheetah",
    "gorilla",
    "lemur",
    "sloth",
    "armadillo",
    "porcupine",
    "skunk",
    "weasel",
    "ferret",
    "platypus",
    "wombat",
    "emu",
    "toucan",
    "hummingbird",
    "kingfisher",
    "albatross",
    "octopus",
    "jellyfish",
    "starfish",
    "shrimp",
    "lobster",
    "salamander",
    "tadpole",
    "earwig",
    "buffalo",
    "bison",
    "reindeer",
    "hare",
    "vole",
    "shrew",
    "mole cricket",
    "goldfinch",
    "nightingale",
    "canary",
    "duckling",
    "gosling",
    "chick",
    "piglet",
    "foal",
    "bunny",
    "tortoise",
    "iguana",
    "chameleon",
    "panther",
];

/// What an animal was doing when the friends passed it.
const ANIMAL_DOINGS: &[&str] = &[
    "eating grass",
    "sleeping in the sun",
    "splashing in a puddle",
    "chasing its tail",
    "building a nest",
    "munching on a leaf",
    "taking a nap",
    "washing its face",
    "humming to itself",
    "sitting on a fence",
    "digging a little hole",
    "looking at the sky",
    "nibbling a berry",
    "stretching its legs",
    "counting its toes",
    "rolling in the mud",
    "sunning itself on a rock",
    "drinking from a puddle",
    "grooming its whiskers",
    "peeking out of a burrow",
    "guarding a pile of acorns",
    "snoring loudly",
    "playing with a pine cone",
    "paddling in circles",
    "preening its feathers",
    "yawning a huge yawn",
    "balancing on one leg",
    "scratching its ear",
];

const BIRDS: &[&str] = &[
    "robin",
    "sparrow",
    "bluebird",
    "blackbird",
    "finch",
    "wren",
    "thrush",
    "woodpecker",
    "pigeon",
    "dove",
    "lark",
    "starling",
    "nuthatch",
    "chaffinch",
    "magpie",
    "goldcrest",
    "kestrel",
    "swallow",
];

const BUGS: &[&str] = &[
    "ladybug",
    "butterfly",
    "bee",
    "beetle",
    "dragonfly",
    "moth",
    "grasshopper",
    "firefly",
    "caterpillar",
    "ant",
    "cricket",
    "bumblebee",
    "ladybird",
    "hoverfly",
    "damselfly",
    "stick insect",
];

/// Story-level places ("the ..."), where the trouble happens and the search goes.
const PLACES: &[&str] = &[
    "the park",
    "the beach",
    "the forest",
    "the meadow",
    "the river",
    "the pond",
    "the lake",
    "the farm",
    "the market",
    "the library",
    "the bakery",
    "the garden",
    "the playground",
    "the old mill",
    "the zoo",
    "the harbor",
    "the lighthouse",
    "the orchard",
    "the barn",
    "the school",
    "the town square",
    "the museum",
    "the toy shop",
    "the woods",
    "the valley",
    "the field of sunflowers",
    "the cave by the sea",
    "the top of the hill",
    "the sandy shore",
    "the little stream",
    "the berry bushes",
    "the fountain",
    "the candy shop",
    "the post office",
    "the fire station",
    "the campsite",
    "the treehouse",
    "the swamp",
    "the waterfall",
    "the vegetable patch",
    "the duck pond",
    "the old castle",
    "the hay field",
    "the ice rink",
    "the fair",
    "the flower market",
    "the bus stop",
    "the corner shop",
    "the bookshop",
    "the pet shop",
    "the windmill",
    "the greenhouse",
    "the picnic spot",
    "the rose garden",
    "the cornfield",
    "the pier",
    "the boathouse",
    "the quiet lane",
    "the big oak tree",
    "the sports field",
    "the village green",
    "the pumpkin patch",
    "the bandstand",
    "the old stone bridge",
    "the apple stall",
    "the sand dunes",
    "the ferry dock",
    "the clock tower",
    "the skating park",
    "the aquarium",
    "the observatory",
    "the cherry orchard",
    "the bamboo grove",
    "the tulip field",
    "the old lighthouse",
    "the marsh",
    "the wheat field",
    "the cliff top",
    "the gravel pit",
    "the town hall",
    "the car wash",
    "the laundromat",
    "the sheep meadow",
    "the stables",
    "the chicken coop",
    "the rock pools",
    "the palm grove",
    "the bird hide",
    "the canal",
    "the hedge maze",
];

const FOODS: &[&str] = &[
    "apple",
    "pear",
    "sandwich",
    "muffin",
    "cookie",
    "banana",
    "orange",
    "peach",
    "plum",
    "cupcake",
    "pancake",
    "pretzel",
    "carrot",
    "bagel",
    "jam tart",
    "waffle",
    "cracker",
    "doughnut",
    "cheese sandwich",
    "slice of melon",
    "bowl of soup",
    "boiled egg",
    "handful of berries",
    "slice of pie",
    "bun with honey",
    "piece of toast",
    "cinnamon roll",
    "bowl of noodles",
    "slice of pizza",
    "cup of yogurt",
    "honey cake",
    "rice ball",
    "bowl of porridge",
    "plate of dumplings",
    "piece of cornbread",
    "ripe mango",
    "bunch of grapes",
    "fig",
    "slice of watermelon",
    "oat bar",
    "plum tart",
    "lemon biscuit",
    "blueberry muffin",
    "bowl of cherries",
    "pear crumble",
    "slice of cheese",
    "carrot cake",
    "strawberry",
    "apricot",
    "nectarine",
    "tangerine",
    "kiwi",
    "coconut bun",
    "pumpkin pie",
    "potato pancake",
    "corn cob",
    "cucumber sandwich",
    "bowl of salad",
    "spoonful of honey",
    "walnut",
    "chestnut",
    "almond cookie",
    "gingerbread man",
    "jelly sandwich",
    "vanilla pudding",
    "raspberry",
    "plate of spaghetti",
    "hot dumpling",
    "sesame roll",
];

const DRINKS: &[&str] = &[
    "water",
    "milk",
    "lemonade",
    "apple juice",
    "warm cocoa",
    "orange juice",
    "mint tea",
    "cold milk",
    "pear juice",
    "cherry juice",
    "fizzy water",
    "warm milk with honey",
    "berry smoothie",
    "peach tea",
];

const SNACKS: &[&str] = &["apple", "sandwich", "little picnic", "bag of grapes", "bottle of water", "muffin", "snack", "banana"];

const TIMES_OF_DAY: &[&str] = &["morning", "afternoon", "evening", "day"];

/// Each story has one season; its weather words and sentences come from it,
/// so a story never has a snowy afternoon in summer.
const SEASONS: &[(&str, &[&str], &[&str])] = &[
    (
        "spring",
        &["sunny", "breezy", "fresh", "mild", "bright", "showery", "lovely"],
        &[
            "Blossoms covered the trees like pink snow.",
            "Baby birds were chirping in their nests.",
            "Green shoots were poking up everywhere.",
            "Lambs were bouncing in the fields.",
            "{^a:bug} buzzed among the flowers.",
        ],
    ),
    (
        "summer",
        &["sunny", "hot", "warm", "bright", "golden", "lazy", "balmy", "muggy"],
        &[
            "The sun was hot, and bees hummed in the clover.",
            "Everyone was eating ice cream in the shade.",
            "The air shimmered over the warm road.",
            "Crickets chirped in the long dry grass.",
            "The sun felt warm on {his} cheeks.",
        ],
    ),
    (
        "autumn",
        &["windy", "crisp", "chilly", "misty", "golden", "blustery", "cool", "damp"],
        &[
            "Leaves of {color} and {color} crunched under {his} feet.",
            "Squirrels were busy hiding nuts for the winter.",
            "Apples hung heavy on the trees.",
            "Geese flew south in a long wobbly line.",
        ],
    ),
    (
        "winter",
        &["snowy", "frosty", "icy", "chilly", "cold", "foggy", "crisp", "gray"],
        &[
            "Snowflakes danced slowly down from the sky.",
            "Every puddle had a thin coat of ice.",
            "{His} breath made little clouds in the cold air.",
            "Icicles hung from the roofs like glass fingers.",
        ],
    ),
];

const DAY_NAMES: &[&str] = &["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

const SKY_ADJS: &[&str] = &[
    "clear and blue",
    "gray and soft",
    "full of fluffy clouds",
    "pink at the edges",
    "bright as a new penny",
    "the color of {color} paint",
    "wide and blue",
    "streaked with white clouds",
];

const WEATHERS: &[&str] = &[
    "The wind was {windadj}, and the clouds looked like {cloudshape}.",
    "Birds were singing in every tree.",
    "The grass was still wet with dew, and it sparkled like glitter.",
    "The air smelled of {smell}.",
    "Little white clouds drifted across the sky like {cloudshape}.",
    "A soft rain had just stopped, and everything smelled clean.",
];

const WIND_ADJS: &[&str] = &["soft", "strong", "gentle", "playful", "gusty", "light", "steady", "whistling"];

const CLOUD_SHAPES: &[&str] = &[
    "sheep",
    "big pillows",
    "cotton candy",
    "whipped cream",
    "little boats",
    "dragons",
    "castles",
    "mashed potatoes",
    "giant teacups",
    "sleepy whales",
    "fluffy rabbits",
    "popcorn",
    "floating islands",
    "ice cream scoops",
];

const SMELLS: &[&str] = &[
    "fresh bread",
    "cut grass",
    "rain",
    "flowers",
    "the sea",
    "pine trees",
    "warm soup",
    "apples",
    "wood smoke",
    "lavender",
    "hot pancakes",
    "mint",
    "oranges",
    "fresh paint",
    "honeysuckle",
    "cinnamon",
    "roasted chestnuts",
    "seaweed",
];

const SAD: &[&str] = &[
    "sad",
    "upset",
    "worried",
    "gloomy",
    "unhappy",
    "miserable",
    "lonely",
    "nervous",
    "heartbroken",
    "glum",
    "sorry for {himself}",
    "disappointed",
    "anxious",
    "tearful",
    "frightened",
    "grumpy",
    "cross",
    "helpless",
];

const FEELS: &[&str] = &[
    "happy",
    "glad",
    "proud",
    "cheerful",
    "joyful",
    "thankful",
    "delighted",
    "excited",
    "calm",
    "grateful",
    "light",
    "warm",
    "overjoyed",
    "relieved",
    "peaceful",
    "content",
    "thrilled",
    "cozy",
    "bubbly",
    "merry",
];

/// The helper friend: a description and a fixed gender (0 girl, 1 boy, 2 either).
const FRIEND_KINDS: &[(&str, u8)] = &[
    ("girl", 0),
    ("boy", 1),
    ("little girl", 0),
    ("little boy", 1),
    ("old woman", 0),
    ("old man", 1),
    ("kind farmer", 2),
    ("friendly baker", 2),
    ("wise old owl", 2),
    ("gentle old turtle", 2),
    ("small gray mouse", 2),
    ("cheerful duck", 2),
    ("clever fox", 2),
    ("tall giraffe", 2),
    ("friendly dog", 2),
    ("curious cat", 2),
    ("brave little rabbit", 2),
    ("kind old bear", 2),
    ("chatty parrot", 2),
    ("big friendly horse", 2),
    ("girl with red boots", 0),
    ("boy with a green hat", 1),
    ("busy little beaver", 2),
    ("young goat", 2),
    ("smiling postman", 1),
    ("fisherman", 1),
    ("girl from next door", 0),
    ("boy from next door", 1),
    ("happy hedgehog", 2),
    ("helpful squirrel", 2),
    ("jolly gardener", 2),
];

const FRIEND_DETAILS: &[&str] = &[
    "a kind face",
    "a big straw hat",
    "bright eyes",
    "a basket on {fhis} arm",
    "a friendly smile",
    "muddy boots",
    "a bag full of apples",
    "a song on {fhis} lips",
    "a spotted scarf",
    "rosy cheeks",
];

/// The animal that runs off with the object: (noun, how it came, how it left, its home).
const THIEVES: &[(&str, &str, &str, &str)] = &[
    ("crow", "swooped down from the sky", "flew away over the rooftops", "nest"),
    ("magpie", "landed on the grass nearby", "flew off into the trees", "nest"),
    ("squirrel", "darted out from behind a tree", "scampered up a tall trunk and away", "hollow tree"),
    ("monkey", "swung down from a branch", "swung away through the trees", "hideout"),
    ("goat", "trotted up with a curious look", "trotted off across the field", "shed"),
    ("raccoon", "crept out from under a bush", "scurried into the woods", "den"),
    ("fox", "slipped out of the tall grass", "ran off into the woods", "den"),
    ("seagull", "dove down from above", "flew away toward the sea", "nest"),
    ("puppy", "bounded over with a wagging tail", "ran off down the lane", "basket"),
    ("otter", "popped up out of the water", "slid back into the river", "den"),
    ("chipmunk", "popped out of a hole", "dashed away under the fence", "burrow"),
    ("jackdaw", "hopped down from the wall", "flapped away over the hedge", "nest"),
];

const THIEF_ADJS: &[&str] = &["cheeky", "naughty", "sneaky", "greedy", "curious", "mischievous", "quick", "clever"];

const TREASURES: &[&str] = &[
    "bottle caps and shiny buttons",
    "pebbles and bits of string",
    "old socks and pine cones",
    "shiny foil and a lost glove",
    "acorns and bits of ribbon",
    "spoons and broken shells",
    "keys, bells, and candy wrappers",
    "sea glass and fishing line",
    "marbles and leaves",
];

/// Where a blown-away object gets stuck.
const TALL_PLACES: &[&str] = &[
    "the top of a tall oak tree",
    "the roof of the old barn",
    "a high branch of the apple tree",
    "the top of a lamp post",
    "a ledge high up on the church tower",
    "the tip of a tall pine tree",
    "the highest branch of a willow tree",
    "the top of the garden wall",
    "the roof of the bus shelter",
    "the top of a chestnut tree",
    "the edge of a high roof",
    "the top of a telephone pole",
    "a gutter on the bakery roof",
    "the crown of a tall palm tree",
];

/// Where a lost thing (or a lost piece) is finally found.
const HIDING_PLACES: &[&str] = &[
    "under a pile of leaves",
    "behind a big flower pot",
    "in the tall grass by the fence",
    "under a park bench",
    "next to a mossy log",
    "inside an old boot",
    "at the bottom of {his} own bag",
    "under a picnic table",
    "beside the duck pond",
    "between two big rocks",
    "in a patch of clover",
    "under a bush full of berries",
    "in the sand near the water",
    "on the steps of the bakery",
    "tangled in some weeds",
    "beneath a wobbly stepping stone",
    "behind the rain barrel",
    "in a nest of dry grass",
    "under a heap of fallen petals",
    "beside a sleeping sheep",
];

const FIXERS: &[&str] = &[
    "a little glue",
    "some sticky tape",
    "a piece of string",
    "a tiny nail",
    "a needle and thread",
    "a drop of glue",
    "a strip of tape and a lot of care",
    "a bit of wire",
];

const JOBS: &[&str] = &[
    "baker",
    "farmer",
    "gardener",
    "shopkeeper",
    "teacher",
    "painter",
    "bus driver",
    "librarian",
    "doctor",
    "builder",
    "ice cream seller",
    "zookeeper",
    "nurse",
    "cook",
    "tailor",
    "carpenter",
    "potter",
    "lifeguard",
    "street sweeper",
    "flower seller",
    "mechanic",
    "plumber",
    "firefighter",
    "pilot",
    "sailor",
    "dentist",
    "beekeeper",
    "shepherd",
    "mail carrier",
    "chef",
    "dancer",
    "singer",
    "juggler",
    "clown",
    "magician",
    "mayor",
    "vet",
    "scientist",
    "astronomer",
    "photographer",
    "knitter",
    "cobbler",
    "blacksmith",
    "barber",
];

const SIGHTS: &[&str] = &[
    "rainbow over the hills",
    "family of ducks",
    "tree full of {color} blossoms",
    "hot air balloon far away",
    "snail with a striped shell",
    "field of poppies",
    "little waterfall",
    "frog on a lily pad",
    "spider web with dew on it",
    "mother deer and her fawn",
    "sandcastle with a flag on top",
    "row of {color} tulips",
    "train puffing past",
    "kite festival",
    "parade of marching drummers",
    "pair of swans gliding by",
    "puppet show",
    "juggler tossing pins",
    "giant pumpkin",
    "castle made of hay",
    "field of lavender",
    "line of ants carrying crumbs",
    "fountain shaped like a whale",
    "crowd around a magician",
    "goose chasing a bicycle",
    "little lamb wearing a bell",
];

const BRIDGES: &[&str] = &["wooden bridge", "stone bridge", "rope bridge", "little bridge", "creaky old bridge"];

const WATERS: &[&str] = &["bubbling stream", "quiet river", "muddy ditch", "sparkling brook", "deep blue canal", "rushing creek"];

const SHELTERS: &[&str] = &[
    "big leafy tree",
    "old wooden roof",
    "bus shelter",
    "huge mushroom",
    "striped awning",
    "rocky ledge",
    "broad chestnut tree",
    "wooden gazebo",
    "empty bandstand",
    "old stone archway",
];

const HILLS: &[&str] = &["a grassy hill", "a steep hill", "the old stone steps", "a big sand dune", "a rocky slope"];

const VIEWS: &[&str] = &[
    "the whole town",
    "the rooftops and the river",
    "fields of {color} flowers",
    "boats on the sea",
    "cows like tiny dots",
    "the forest stretching far away",
    "the smoke from every chimney",
    "the windmill turning slowly",
    "a train winding between the hills",
    "the harbor full of sailing boats",
    "sheep grazing on the slopes",
    "the church spire",
];

const LOOK_WHERES: &[&str] =
    &["under every bench", "behind every tree", "in every corner", "high and low", "under the bushes", "near the water"];

const THINGS: &[&str] = &[
    "rock",
    "bush",
    "bench",
    "log",
    "flower pot",
    "hedge",
    "fence",
    "pile of sticks",
    "wheelbarrow",
    "barrel",
    "haystack",
    "wooden crate",
    "scarecrow",
    "compost heap",
    "rain barrel",
    "stack of bricks",
    "garden gnome",
    "tractor tire",
    "woodpile",
    "birdbath",
];

const FOUNDS: &[&str] = &[
    "shiny bottle cap",
    "lost glove",
    "round stone",
    "old shoe",
    "pine cone",
    "tiny snail shell",
    "bit of string",
    "crumpled paper",
    "blue bead",
    "wooden spoon",
    "button",
    "feather",
    "marble",
    "rusty nail",
    "chewed pencil stub",
    "sock with holes",
    "toy soldier",
    "broken comb",
    "yellow leaf",
    "paper crown",
    "snail",
    "ladybird",
];

const CHEERS: &[&str] = &[
    "We can do it!",
    "Don't give up!",
    "Just a little further!",
    "Let's keep going!",
    "I have a good feeling about this!",
    "One more place, then we rest!",
    "Friends never give up!",
    "Courage, partner!",
    "Almost there, I can feel it!",
    "Chin up, we are a great team!",
];

const SILLIES: &[&str] = &[
    "wanted to fly",
    "wore a hat to bed",
    "was afraid of puddles",
    "tried to count the stars",
    "baked a cake for the moon",
    "danced in the rain",
    "could not stop sneezing",
    "thought its tail was a snake",
    "tried to hide behind a flower",
    "sang to the vegetables",
    "tried to wear socks on its ears",
    "fell asleep in a teacup",
    "wanted to be a cloud",
    "mistook a pumpkin for the sun",
    "invited snails to a race",
];

const SONGS: &[&str] = &[
    "Over the hill and down we go, looking high and looking low!",
    "Step by step and side by side, we will look both far and wide!",
    "Left foot, right foot, on we go, fast or slow!",
    "Sun up high and path so long, we will sing our walking song!",
    "Tra la la, the day is bright, we will make it all come right!",
];

/// Answers in dialogue, without final punctuation (templates add `,"`).
const ANSWERS: &[&str] = &[
    "I saw something over by {place}",
    "Not today, but good luck",
    "Maybe you should ask the {job}",
    "I was asleep all morning, sorry",
    "Look near the water",
    "Hmm, let me think. No, I am sorry",
    "Try the other side of {place}",
    "I only saw {a:bug} and a cloud",
    "Ask the {job} at {place}",
    "I think I heard something rustling near {place}",
    "Sorry, I did not see anything",
];

const SUN_POSITIONS: &[&str] = &[
    "high in the sky",
    "starting to go down",
    "peeking through the clouds",
    "hiding behind a cloud",
    "warm on their backs",
    "low and orange",
];

const PATHWAYS: &[&str] = &[
    "through a dark forest",
    "around a big pond",
    "between tall fields of corn",
    "over a bumpy hill",
    "along the sandy beach",
    "past an old stone wall",
    "under a row of tall trees",
    "beside a noisy road",
    "across a wobbly plank",
    "through a tunnel of hawthorn",
    "along a muddy ditch",
    "up a winding staircase of roots",
    "around the back of the bakery",
];

const TASTES: &[&str] = &["sweet and good", "wonderful", "like sunshine", "better than ever", "just right", "yummy"];

const LEAF_DOS: &[&str] = &["danced", "rustled softly", "fell like {color} rain", "whispered back", "spun around"];

const STAR_TIMES: &[&str] = &["the stars came out", "the moon rose", "it was time for bed", "the lamps were lit"];

const NUMBERS: &[&str] = &["seven", "twelve", "twenty", "thirty", "forty", "fifty", "a hundred", "eleven", "fifteen"];

/// Flowers, in the plural ("a field of ...").
const FLOWERS: &[&str] = &[
    "daisies",
    "tulips",
    "poppies",
    "sunflowers",
    "bluebells",
    "dandelions",
    "marigolds",
    "buttercups",
    "violets",
    "roses",
    "lilies",
    "pansies",
    "cornflowers",
    "snowdrops",
    "daffodils",
    "lupins",
    "foxgloves",
    "primroses",
];

const TREES: &[&str] = &[
    "oak", "maple", "birch", "willow", "pine", "cherry", "chestnut", "elm", "beech", "cedar", "plum", "walnut", "hazel", "linden",
    "sycamore", "magnolia",
];

const NOISES: &[&str] = &[
    "strange rustling",
    "loud splash",
    "soft squeak",
    "funny honking",
    "quiet tapping",
    "long whistle",
    "deep rumble",
    "tinkling sound",
    "sleepy grunt",
    "scratching noise",
];

const JOB_DOINGS: &[&str] = &[
    "selling hot chestnuts",
    "painting a fence",
    "sweeping the steps",
    "fixing a bicycle",
    "watering the plants",
    "feeding the pigeons",
    "mending a fishing net",
    "stacking crates of apples",
    "whistling a tune",
    "hanging out the washing",
    "counting coins",
    "polishing a brass bell",
    "planting onions",
];

/// Little tricks the friend teaches the hero on the way.
const SKILLS: &[&str] = &[
    "whistle with a blade of grass",
    "skip a stone three times",
    "walk like a penguin",
    "make a daisy chain",
    "tie a double knot",
    "balance a leaf on one finger",
    "hoot like an owl",
    "find the way home by the sun",
    "hop across stepping stones",
    "fold a paper hat",
];

// ---------------------------------------------------------------------------
// Sentence templates, grouped by story phase. `{key}` is replaced when the
// story is written: `{H}`, `{F}`, `{Pet}`, `{O}`, `{T}` are the tracked names
// (hero, friend, pet, object, thief); `{he}`/`{his}`/`{him}` (and `{fhe}`...,
// `{phe}`...) are pronouns; other keys draw from the lists above, fresh each
// time, unless they end in a digit (`{animal1}`), which holds one draw for the
// whole template. `{a:key}` puts "a"/"an" in front; `{^key}` capitalises.
// ---------------------------------------------------------------------------

const HERO_INTROS: &[&str] = &[
    "Once upon a time, there was {a:trait} little {kid} named {H}.",
    "Long ago, in {home}, there lived {a:trait} {kid} called {H}.",
    "{H} was {a:trait} {kid} who lived in {home}.",
    "There once was a little {kid} named {H}. {He} was {age} years old and very {trait}.",
    "In {home} lived a {kid} named {H}, who was {trait} and full of questions.",
    "{H} was {age} years old. {He} lived with {his} {grand} in {home}.",
    "Not far from {P}, there lived {a:trait} {kid}. {His} name was {H}.",
    "Everyone in town knew {H}, the {trait} {kid} who lived in {home}.",
    "Once there was a {kid} named {H} who loved to {love}.",
    "{H} was {a:trait} {kid} with {hair} hair and a big smile.",
    "In a little town where the {townthing}, there lived a {kid} named {H}.",
    "There was once {a:trait} {kid} called {H}, who lived close to {P}.",
    "Once upon a time, in {home}, lived a {kid} called {H}. {He} loved to {love}.",
];

/// Intros that name the object before its owner.
const OBJECT_FIRST_INTROS: &[&str] = &[
    "There was once {a:oadj} {ocol} {O} that belonged to {a:trait} {kid} named {H}.",
    "This is a story about {a:oadj} {ocol} {O} and the {trait} {kid} who loved it, a {kid} named {H}.",
    "In {home}, there was {a:oadj} {ocol} {O}. It belonged to a {kid} named {H}.",
    "Once upon a time, {a:oadj} {ocol} {O} had a very good owner. {His} name was {H}.",
];

/// Where the object came from: (sentence introducing it, the same fact when the
/// object is already introduced, clause for the closing callback).
const ORIGINS: &[(&str, &str, &str)] = &[
    (
        "{His} {grand} had given {him} {a:oadj} {ocol} {O} for {his} birthday.",
        "{His} {grand} had given it to {him} for {his} birthday.",
        "that {his} {grand} had given {him}",
    ),
    (
        "{H} had made {a:oadj} {ocol} {O} all by {himself}, and {he} was very proud of it.",
        "{He} had made it all by {himself}.",
        "that {he} had made all by {himself}",
    ),
    ("At the town fair, {H} had won {a:oadj} {ocol} {O}.", "{He} had won it at the town fair.", "that {he} had won at the fair"),
    (
        "{H} had saved {his} coins for a long time to buy {a:oadj} {ocol} {O}.",
        "{He} had saved {his} coins for a long time to buy it.",
        "that {he} had saved up for",
    ),
    (
        "{H} had {a:oadj} {ocol} {O} that used to belong to {his} {grand}.",
        "It used to belong to {his} {grand}.",
        "that once belonged to {his} {grand}",
    ),
    (
        "{His} {grand} had made {him} {a:oadj} {ocol} {O} by hand.",
        "{His} {grand} had made it by hand.",
        "that {his} {grand} had made by hand",
    ),
    (
        "When {he} was very small, a kind neighbor gave {H} {a:oadj} {ocol} {O}.",
        "A kind neighbor had given it to {him} when {he} was very small.",
        "from the kind neighbor",
    ),
    (
        "On {his} last birthday, {H} got {a:oadj} {ocol} {O} from {his} {grand}.",
        "It was a birthday present from {his} {grand}.",
        "from {his} {grand}",
    ),
];

const OBJECT_LOVES: &[&str] = &[
    "{H} loved the {O} more than anything.",
    "{He} took the {O} everywhere {he} went.",
    "The {O} had {odetail}, and {H} thought it was the best {O} in the world.",
    "Every night, {he} put the {O} next to {his} bed.",
    "{H} showed the {O} to everyone {he} met.",
    "The {O} was {his} most special thing.",
    "{He} called it {his} lucky {O}.",
    "Nothing made {H} happier than {his} {O}.",
    "{He} kept the {O} in a safe place and looked at it every day.",
    "It had {odetail}, and {H} knew every bit of it by heart.",
];

const PET_INTROS: &[&str] = &[
    "{H} also had {a:petkind} named {Pet}, who followed {him} everywhere.",
    "{His} best pal at home was {a:petadj} {petkind} called {Pet}.",
    "{H} lived with {a:petadj} little {petkind} named {Pet}.",
    "{Pet}, {his} {petadj} {petkind}, was never far behind.",
];

const FRIEND_EARLY: &[&str] = &[
    "{His} best friend was {a:fkind} named {F}.",
    "{H} often played with {F}, {a:fkind} who lived nearby.",
    "{H} had a good friend called {F}, {a:fkind} with {fdetail}.",
];

const SETTINGS: &[&str] = &[
    "One {tod}, the sky was {skyadj}, and {H} went to {P} with {his} {O}.",
    "It was {a:weatheradj} {season} day, and {H} took the {O} to {P}.",
    "One {dayname}, {H} carried the {O} all the way to {P}.",
    "The {season} sun was shining when {H} set off for {P} with the {O}.",
    "{H} liked to go to {P}, where {he} could {love}. One {tod}, {he} brought the {O} along.",
    "Early one {tod}, {H} packed {a:snack}, picked up the {O}, and walked to {P}.",
    "On {a:weatheradj} {tod} in {season}, {H} skipped down the path to {P}, holding the {O}.",
    "One {tod}, {H} and {his} {grand} went to {P}, and of course the {O} came too.",
    "The {tod} was {weatheradj}, so {H} wrapped up warm and took the {O} to {P}.",
    "After breakfast, {H} asked {his} {grand}, \"May I go to {P}?\" \"Yes, but be careful with your {O},\" came the answer.",
    "It was the first {weatheradj} day of {season}. {H} grabbed the {O} and hurried to {P}.",
];

const PLAYS: &[&str] = &[
    "{H} {did} and {did}.",
    "First, {he} {did}. Then {he} {did}.",
    "{H} played with the {O} for a long time.",
    "{He} {did}, and the {O} was always close by.",
    "{He} showed the {O} to {a:animal} that was {animaldoing}.",
    "For a while, everything was perfect. {H} {did}.",
    "{He} sat by {a:tree} tree and told the {O} a secret.",
    "{H} and the {O} watched {a:animal} {animaldoing}.",
    "{He} counted the {flowers} along the path and got to {num}.",
];

/// The trouble, one list per plot (Lost, Taken, Stuck, Broken).
const PROBLEMS: [&[&str]; 4] = [
    &[
        "But when it was time to go home, the {O} was gone!",
        "Later, {H} reached for {his} {O}, but it was not there.",
        "Then {H} looked around and gasped. The {O} was nowhere to be seen!",
        "After a while, {H} noticed something terrible: {he} had lost the {O}.",
        "When {H} turned around, the {O} had disappeared.",
        "Somewhere between {P} and home, the {O} had gone missing.",
    ],
    &[
        "Suddenly, {a:thiefadj} {T} {tcome} and snatched the {O}! Then it {tgo}.",
        "Just then, {a:T} {tcome}. Before {H} could blink, the {T} grabbed the {O} and {tgo}.",
        "{H} put the {O} down for a moment. That was when {a:thiefadj} {T} {tcome}, picked it up, and {tgo}.",
        "Out of nowhere, {a:T} {tcome}. It took one look at the {O}, grabbed it, and {tgo}.",
    ],
    &[
        "Then a strong gust of wind lifted the {O} and carried it up to {tall}.",
        "Whoosh! The wind blew the {O} right out of {his} hands, and it landed on {tall}.",
        "{H} threw the {O} up high, a little too high, and it got stuck on {tall}.",
        "A gust of wind came, and the {O} flew up and got caught on {tall}.",
    ],
    &[
        "But then {H} tripped on a stone. The {O} fell to the ground, and a small piece broke off and rolled away.",
        "Crack! The {O} hit the ground, and a little piece of it bounced away into the grass.",
        "{H} dropped the {O} by accident. When {he} picked it up, a piece was missing!",
        "Oh no! The {O} slipped from {his} hands and broke. One small piece was gone.",
    ],
];

const REACTIONS: &[&str] = &[
    "{H} felt {sad}. {His} eyes filled with tears.",
    "{H} sat down and began to cry.",
    "{His} lip began to shake. \"Oh no,\" {he} said quietly.",
    "\"What will I do now?\" {H} cried.",
    "{H} felt a big lump in {his} throat.",
    "{H} was so {sad} that {he} did not know what to do.",
    "{He} stamped {his} foot. \"This is the worst day ever!\" {he} said.",
    "{H} hid {his} face in {his} hands.",
    "{H} felt cold and small, like a leaf in the wind.",
    "{His} heart felt heavy, and {he} did not feel like playing anymore.",
    "\"It was my favorite thing in the whole world,\" {H} whispered.",
];

const HELPER_NEW: &[&str] = &[
    "Just then, {a:fkind} named {F} came walking by.",
    "At that moment, {a:fkind} called {F} saw {H} and came over.",
    "Nearby, {a:fkind} named {F} heard the crying.",
    "A voice said, \"Hello there!\" It was {F}, {a:fkind} who lived near {P}.",
    "Along came {F}, {a:fkind} with {fdetail}.",
];

const HELPER_KNOWN: &[&str] = &[
    "{H} ran to find {F}.",
    "Luckily, {F} was not far away.",
    "{H} went to {F}'s house and knocked on the door.",
    "Just then, {F} came running over.",
];

const ASKS: &[&str] = &[
    "\"What is wrong?\" asked {F}.",
    "\"Why are you so {sad}?\" {F} asked.",
    "{F} sat down next to {H}. \"What happened?\" {fhe} asked gently.",
    "\"{H}, what is the matter?\" asked {F}.",
];

const REPLIES: [&[&str]; 4] = [
    &[
        "\"I lost my {O},\" said {H}. \"It is {ocol} and it has {odetail}.\"",
        "\"My {O} is lost,\" {H} sobbed.",
        "\"I can't find my {ocol} {O} anywhere,\" said {H}.",
    ],
    &[
        "\"{^a:T} took my {O}!\" said {H}.",
        "\"The {T} ran off with my {O},\" {H} sobbed.",
        "\"A {thiefadj} {T} stole my {ocol} {O}!\" cried {H}.",
    ],
    &[
        "\"My {O} is stuck up there,\" said {H}, pointing up.",
        "\"I can't reach my {O},\" {H} sobbed. \"It is on {tall}.\"",
        "\"The wind took my {O},\" said {H}, and pointed up high.",
    ],
    &[
        "\"My {O} broke, and a piece is missing,\" said {H}.",
        "{H} held up the {O}. \"Look, a piece fell off, and I can't find it,\" {he} said.",
        "\"My poor {O} is broken,\" {H} sobbed.",
    ],
];

/// What the two friends set out to do, per plot (base form).
const FIXITS: [&[&str]; 4] = [
    &["find it", "look for it", "find your {O}"],
    &["get it back", "find that {T}", "get your {O} back"],
    &["get it down", "reach it", "get your {O} down"],
    &["find the missing piece", "fix it", "make your {O} whole again"],
];

const OFFERS: &[&str] = &[
    "\"Don't worry,\" said {F}. \"I will help you.\"",
    "{F} smiled. \"Let's {fixit} together!\"",
    "\"Two friends can {fixit} faster than one,\" said {F}.",
    "{F} took {H}'s hand. \"Come on, we will {fixit}.\"",
    "\"I know just what to do,\" said {F}. \"We will {fixit}.\"",
    "\"Dry your tears,\" said {F} kindly. \"We can {fixit} if we work together.\"",
];

/// What the friends are busy doing during the middle of the story, per plot.
const GOALS: [&[&str]; 4] = [
    &["looking for the {O}", "searching for the lost {O}", "hunting high and low for the {O}"],
    &["following the {T}", "chasing the {thiefadj} {T}", "trying to find where the {T} had taken the {O}"],
    &[
        "looking for something to reach the {O}",
        "looking for a ladder tall enough to reach the {O}",
        "trying to think of a way to get the {O} down",
    ],
    &["looking for the missing piece of the {O}", "searching for the little piece of the {O}", "hunting for the lost piece"],
];

const QUESTIONS: [&[&str]; 4] = [
    &["Have you seen {a:ocol} {O}?", "Did you see a little {O} anywhere?", "Have you seen my {O}?"],
    &["Have you seen {a:T} carrying {a:O}?", "Do you know where the {T} lives?", "Did {a:T} run past here?"],
    &["Do you know where we can find a long ladder?", "Can you help us reach something up high?", "Do you have a ladder?"],
    &["Have you seen a small {ocol} piece of {a:O}?", "Did you find a little broken piece?", "Have you seen a tiny {ocol} piece?"],
];

/// Middle events, shared by all plots (each is a few sentences).
const EVENTS: &[&str] = &[
    "First, they went to {place}. They looked {lookwhere}, but there was nothing there except {a:animal} {animaldoing}.",
    "They walked past {place}, still {goal}.",
    "On the way, they met {a:animal1}. \"{question}\" asked {H}. The {animal1} thought for a moment. \"{answer},\" it said.",
    "After a while they got hungry, so they stopped to eat {a:food} and drink some {drink}.",
    "They crossed {a:bridge} over {a:water}. Far below, {a:animal} was {animaldoing}.",
    "Then the sky turned gray, and a little rain began to fall. {H} and {F} hid under {a:shelter} until it stopped.",
    "They climbed up {hill} and looked all around. From up there, they could see {view}.",
    "They asked {a:job1} at {place}. \"{question}\" said {F}. The {job1} just smiled and pointed toward {place}.",
    "{H} felt tired, but {F} said, \"{cheer}\"",
    "Along the path, they saw {a:sight}. {H} wanted to stop and look, but {he} remembered the {O} and kept going.",
    "They looked behind {a:thing}, under {a:thing}, and inside {a:thing}, but they had no luck.",
    "{^a:bird} sitting on a branch chirped, as if to say, \"Keep going!\"",
    "They passed {a:animal} {animaldoing} and {a:animal} {animaldoing}.",
    "The path went {pathway}. {H} held {F}'s hand tightly.",
    "{F} told {H} a funny story about {a:animal} who {silly}, and {H} laughed so hard that {he} almost forgot to be {sad}.",
    "They sang a song as they walked: \"{song}\"",
    "At {place}, {a:animal1} was {animaldoing}. \"{question}\" asked {F}. \"{answer},\" said the {animal1}.",
    "By now, the sun was {sunpos}. {H} and {F} had been {goal} for a long time.",
    "They found {a:found}, but it was not what they were looking for.",
    "{H} thought about the {O} and felt {sad} again. \"We will {fixit},\" said {F}, and gave {him} a hug.",
    "They stopped at {place} to rest. {F} shared {a:food} with {H}, and it tasted {taste}.",
    "A little {bug} landed on {H}'s nose. \"Achoo!\" {he} sneezed, and {F} giggled.",
    "The wind blew through the trees, and the leaves {leafdo}.",
    "They asked everyone they met: {a:animal}, {a:animal}, and even {a:animal}. Nobody could help.",
    "{H} and {F} split up for a little while. {H} went to {place}, and {F} went to {place}. Then they met again.",
    "\"Where could it be?\" wondered {H}. {He} kept {goal}, step by step.",
    "{F} had an idea. \"Let's ask the {job1},\" {fhe} said. But the {job1} was busy and did not know.",
    "They walked and walked until their feet were sore.",
    "Near {place}, they saw {a:tree} tree with {a:animal} asleep in its branches.",
    "They walked through a field of {flowers}, and {H} picked a few for {his} {grand}.",
    "{^a:job1} was {jobdoing} at {place}. \"{question}\" asked {H}. The {job1} looked up and smiled. \"{answer},\" came the reply.",
    "Suddenly they heard {a:noise} coming from {place}. It was only {a:animal} {animaldoing}.",
    "The smell of {smell} drifted out of {place}, and {H}'s tummy rumbled.",
    "While they rested under {a:tree} tree, {F} showed {H} how to {skill}.",
    "A {windadj} breeze blew, and petals of {flowers} swirled around them like {color} snow.",
    "They had to hop across {a:water} on slippery stones. {H} wobbled, but {F} caught {his} arm just in time.",
];

/// Extra middle events when the hero has a pet along.
const PET_EVENTS: &[&str] = &[
    "{Pet} sniffed the ground and ran in little circles.",
    "{Pet} ran ahead, then came back, as if to say, \"This way!\"",
    "{Pet} was getting tired, so {H} carried {phim} for a while.",
    "{Pet} stopped to look at {a:animal}, and {H} had to call {phim} twice.",
    "Even {Pet} seemed to be {goal}.",
];

const RESOLUTIONS: [&[&str]; 4] = [
    &[
        "At last, {H} spotted something {ocol} {hide}. {He} ran over and looked closer. It was the {O}!",
        "Then {F} shouted, \"Look!\" There, {hide}, was the {oadj} {O}.",
        "Just when they were about to give up, {H} saw a bit of {ocol} {hide}. It was {his} {O}!",
        "They went back to {P} one more time. And there, {hide}, lay the {O}, safe and sound.",
    ],
    &[
        "At last they found the {T}'s {thome}. And there, right in the middle, was the {O}! \"Please may I have my {O} back?\" asked {H} kindly. The {T} looked at {him}, then slowly pushed the {O} toward {him}.",
        "They followed the {T} all the way to its {thome}. Inside, among {treasures}, sat the {O}. {F} offered the {T} {a:food}, and the {T} happily gave back the {O}.",
        "Finally, they saw the {T} near its {thome}, playing with the {O}. \"That is mine,\" said {H} softly. The {T} blinked, dropped the {O}, and {tgo}.",
    ],
    &[
        "At last, {F} came back with a long ladder. {F} held it steady while {H} climbed up and took the {O} down.",
        "{F} found a long stick, and together they gently poked the {O} until it fell down into {H}'s arms.",
        "{H} climbed onto {F}'s shoulders. {He} reached up as high as {he} could, and {his} fingers touched the {O}. {He} pulled it down!",
        "{^a:job} with a tall ladder was passing by. {F} asked for help, and soon the {O} was safe in {H}'s hands.",
        "Then a big gust of wind came again. This time it shook the {O} loose, and it floated right down to {H}.",
    ],
    &[
        "At last, {H} saw something {ocol} {hide}. It was the missing piece of the {O}! Back home, {F} helped {H} fix the {O} with {fixer}.",
        "Then {F} shouted, \"Here it is!\" The little piece was {hide}. {H}'s {grand} helped them fix the {O} with {fixer}, and soon it was as good as new.",
        "Just as the sun began to set, they found the piece {hide}. {F} used {fixer} to put it back, and the {O} looked as good as new.",
    ],
];

const CELEBRATIONS: &[&str] = &[
    "{H} hugged the {O} tight. \"Thank you, {F}!\" {he} said.",
    "{H} jumped up and down with joy. \"You are the best friend ever, {F}!\"",
    "{H} was so {feel} that {he} danced around in a circle.",
    "\"We did it!\" cheered {F}, and the two friends laughed together.",
    "{H} smiled the biggest smile. {He} felt warm and {feel} inside.",
    "{H} held the {O} close and thanked {F} again and again.",
    "{H} laughed and twirled the {O} in the air.",
    "\"Hooray!\" shouted {H}, so loudly that {a:bird} flew off a branch.",
    "{H} felt {feel} from the tip of {his} nose to the ends of {his} toes.",
];

const HOMEWARDS: &[&str] = &[
    "That evening, they shared {a:food} at {H}'s house, and {H}'s {grand} told them stories until {startime}.",
    "Then they walked home together as the sun went down, painting the sky {color} and {color}.",
    "They played together at {P} until it was time for dinner.",
    "When {H} got home, {he} told {his} {grand} all about the adventure.",
    "On the way home, {H} and {F} shared {a:food} and talked about everything they had seen.",
    "They went home tired but {feel}, and {H} slept very well that night.",
    "Later, {H}'s {grand} cooked a big dinner for everyone, and they sat on the porch until {startime}.",
    "They raced each other home, laughing all the way past {place}.",
    "On the way back, they waved to the {job} at {place}.",
];

/// The callback: re-names the hero and the object from the very first lines.
const CALLBACKS: &[&str] = &[
    "From that day on, {H} never let the {O} out of {his} sight.",
    "Many years later, {H} still had the {O} {origin}. Every time {he} looked at it, {he} thought of {F}.",
    "Whenever {H} held the {oadj} {ocol} {O}, {he} remembered the day {he} and {F} {adventure}.",
    "Every night after that, {H} put the {O} right beside {his} pillow.",
    "And the {ocol} {O} {origin}? It stayed safe with {H} for a long, long time.",
    "Now, whenever {H} went to {P}, {he} held the {O} a little tighter.",
    "{H} and {F} stayed friends for many years, and the {O} was always part of their games.",
    "The next time {H} saw the {O}, {he} smiled, because now it had a story to tell.",
    "The {O} went back to its special place, and {H} checked on it every morning.",
    "Years went by, but {H} never forgot how {F} had helped {him} that day, or how close {he} came to losing the {O}.",
    "Whenever anyone asked {H} about the {oadj} {O}, {he} told them the whole story, starting with {F}.",
    "Looking at the {O}, {H} thought about everything that had happened since that {weatheradj} day at {P}.",
];

const PET_CALLBACKS: &[&str] = &[
    "And {Pet}? {Phe} got a big treat for being such a good helper.",
    "{Pet} curled up at {H}'s feet, tired and happy.",
    "That night, {Pet} slept right next to the {O}, as if guarding it.",
];

const MORALS: &[&str] = &[
    "{H} learned that a true friend is always ready to help.",
    "It was a day {H} would never forget.",
    "Sometimes, the best adventures start with a little trouble.",
    "{H} learned that when you don't give up, good things can happen.",
    "With a friend by your side, no problem is too big.",
    "And that is how {H} learned that kindness always comes back to you.",
    "And so the day ended with a smile.",
    "{H} learned that help can come from where you least expect it.",
    "The end.",
];

const PLOT_MORALS: [&[&str]; 4] = [
    &["{H} learned to always take good care of the things {he} loves.", "{H} learned to keep {his} things close."],
    &["{H} learned that asking nicely can fix many problems.", "{H} learned that even {a:T} can be kind if you are kind first."],
    &[
        "{H} learned that two friends together can reach higher than one.",
        "{H} learned that there is always a way, if you think hard enough.",
    ],
    &[
        "{H} learned that broken things can often be mended with a little help and patience.",
        "{H} learned that a little care can fix a lot.",
    ],
];

const ADVENTURES: [&[&str]; 4] = [
    &["searched all over town for it", "looked for it from morning until evening"],
    &["chased the {thiefadj} {T} all the way to its {thome}", "got it back from the {T}"],
    &["got it down from {tall}", "rescued it from {tall}"],
    &["found the missing piece", "fixed it together"],
];

// ---------------------------------------------------------------------------
// The generator.
// ---------------------------------------------------------------------------

/// One re-mention of an entity: where it was first introduced and where it is named again (byte offsets into `Story::text`, pointing at the start of the name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mention {
    /// Which tracked entity: 0 hero, 1 friend, 2 pet, 3 object, 4 thief.
    pub entity: usize,
    pub name: String,
    pub intro_byte: usize,
    pub mention_byte: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Story {
    pub text: String,
    pub mentions: Vec<Mention>,
}

/// Story number `index` of the corpus with seed `seed`: a pure function of (seed, index).
pub fn story(seed: u64, index: u64) -> Story {
    // Derive an independent stream per story so story i never depends on story i-1.
    let mut mix = Rng::new(seed);
    let s = mix.next_u64() ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03);
    let mut rng = Rng::new(s);
    rng.next_u64();
    Writer::new(rng).write()
}

/// The first `n` stories' texts.
pub fn stories(seed: u64, n: usize) -> Vec<String> {
    (0..n as u64).map(|i| story(seed, i).text).collect()
}

/// Word count between two byte offsets (whitespace-separated words), used by tests/probes as a lower bound on BPE tokens.
pub fn words_between(text: &str, from: usize, to: usize) -> usize {
    let to = to.min(text.len());
    text.get(from.min(to)..to).map_or(0, |s| s.split_whitespace().count())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Plot {
    Lost = 0,
    Taken = 1,
    Stuck = 2,
    Broken = 3,
}

/// Tracked entities, in the order of `Cast::names`.
const HERO: usize = 0;
const FRIEND: usize = 1;
const PET: usize = 2;
const OBJECT: usize = 3;
const THIEF: usize = 4;

/// Everything fixed for the whole story.
struct Cast {
    plot: Plot,
    /// hero, friend, pet, object, thief ("" when absent).
    names: [&'static str; 5],
    hero_girl: bool,
    friend_girl: bool,
    pet_girl: bool,
    fkind: &'static str,
    petkind: &'static str,
    petadj: &'static str,
    oadj: &'static str,
    ocol: &'static str,
    odetail: &'static str,
    origin: usize,
    place: &'static str,
    season: usize,
    home: &'static str,
    grand: &'static str,
    trait_: &'static str,
    thief: usize,
    thiefadj: &'static str,
    tall: &'static str,
    hide: &'static str,
    fixer: &'static str,
    /// Words that random fillers must not contain, so every occurrence of a
    /// tracked name is a mention (and the thief/pet species stay unambiguous).
    avoid: Vec<&'static str>,
}

struct Writer {
    rng: Rng,
    cast: Cast,
    text: String,
    /// (entity, byte offset) for every tracked name written, in text order.
    marks: Vec<(usize, usize)>,
    /// Draws held for the current template (`{animal1}` etc.).
    locals: Vec<(&'static str, &'static str)>,
    at_par_start: bool,
}

/// Does `phrase` contain `word` as a whole word (ASCII letters/digits delimit)?
fn has_word(phrase: &str, word: &str) -> bool {
    let b = phrase.as_bytes();
    let mut from = 0;
    while let Some(i) = phrase[from..].find(word) {
        let s = from + i;
        let e = s + word.len();
        let before_ok = s == 0 || !b[s - 1].is_ascii_alphanumeric();
        let after_ok = e == b.len() || !b[e].is_ascii_alphanumeric();
        if before_ok && after_ok {
            return true;
        }
        from = s + 1;
    }
    false
}

/// Pick from `list`, redrawing while the choice contains an avoided word.
fn pick_avoiding(rng: &mut Rng, list: &[&'static str], avoid: &[&str]) -> &'static str {
    let mut choice = *rng.pick(list);
    for _ in 0..64 {
        if !avoid.iter().any(|w| !w.is_empty() && has_word(choice, w)) {
            break;
        }
        choice = *rng.pick(list);
    }
    choice
}

/// One draw from a word list (keeps the `'static` lifetime of the entry).
fn draw(rng: &mut Rng, list: &[&'static str]) -> &'static str {
    list[rng.below(list.len())]
}

/// "an" before a vowel sound, "a" otherwise (with the common exceptions).
fn article_for(next: &str) -> &'static str {
    let w = next.trim_start().to_ascii_lowercase();
    let vowel = w.starts_with(['a', 'e', 'i', 'o', 'u']);
    let exception = ["uni", "use", "ukulele", "one", "eu"].iter().any(|p| w.starts_with(p));
    let silent_h = ["hour", "honest", "heir"].iter().any(|p| w.starts_with(p));
    if (vowel && !exception) || silent_h {
        "an "
    } else {
        "a "
    }
}

/// The filler lists a template key can draw from.
fn list_for(key: &str) -> Option<&'static [&'static str]> {
    Some(match key {
        "animal" => ANIMALS,
        "animaldoing" => ANIMAL_DOINGS,
        "place" => PLACES,
        "food" => FOODS,
        "drink" => DRINKS,
        "snack" => SNACKS,
        "color" => COLORS,
        "sad" => SAD,
        "feel" => FEELS,
        "tod" => TIMES_OF_DAY,
        "dayname" => DAY_NAMES,
        "skyadj" => SKY_ADJS,
        "weather" => WEATHERS,
        "windadj" => WIND_ADJS,
        "cloudshape" => CLOUD_SHAPES,
        "smell" => SMELLS,
        "love" => LOVES,
        "did" => DIDS,
        "bird" => BIRDS,
        "bug" => BUGS,
        "age" => AGES,
        "hair" => HAIR,
        "townthing" => TOWN_THINGS,
        "fdetail" => FRIEND_DETAILS,
        "treasures" => TREASURES,
        "job" => JOBS,
        "sight" => SIGHTS,
        "bridge" => BRIDGES,
        "water" => WATERS,
        "shelter" => SHELTERS,
        "hill" => HILLS,
        "view" => VIEWS,
        "lookwhere" => LOOK_WHERES,
        "thing" => THINGS,
        "found" => FOUNDS,
        "cheer" => CHEERS,
        "silly" => SILLIES,
        "song" => SONGS,
        "answer" => ANSWERS,
        "sunpos" => SUN_POSITIONS,
        "pathway" => PATHWAYS,
        "taste" => TASTES,
        "leafdo" => LEAF_DOS,
        "startime" => STAR_TIMES,
        "flowers" => FLOWERS,
        "tree" => TREES,
        "noise" => NOISES,
        "jobdoing" => JOB_DOINGS,
        "skill" => SKILLS,
        "num" => NUMBERS,
        _ => return None,
    })
}

impl Writer {
    fn new(mut rng: Rng) -> Writer {
        let plot = match rng.below(4) {
            0 => Plot::Lost,
            1 => Plot::Taken,
            2 => Plot::Stuck,
            _ => Plot::Broken,
        };
        let need = match plot {
            Plot::Lost => 0,
            Plot::Taken => SMALL | LIGHT,
            Plot::Stuck => LIGHT,
            Plot::Broken => FRAGILE,
        };
        let object = loop {
            let (name, flags) = *rng.pick(OBJECTS);
            if need == 0 || flags & need != 0 {
                break name;
            }
        };
        let hero_girl = rng.below(2) == 0;
        let hero = *rng.pick(if hero_girl { GIRL_NAMES } else { BOY_NAMES });
        let (fkind, fgender) = loop {
            let fk = *rng.pick(FRIEND_KINDS);
            if !has_word(fk.0, object) {
                break fk;
            }
        };
        let friend_girl = match fgender {
            0 => true,
            1 => false,
            _ => rng.below(2) == 0,
        };
        let friend = loop {
            let f = *rng.pick(if friend_girl { GIRL_NAMES } else { BOY_NAMES });
            if f != hero {
                break f;
            }
        };
        let has_pet = rng.below(100) < 40;
        let petkind = if has_pet { *rng.pick(PET_KINDS) } else { "" };
        let pet = if has_pet { *rng.pick(PET_NAMES) } else { "" };
        let thief = if plot == Plot::Taken {
            loop {
                let t = rng.below(THIEVES.len());
                let noun = THIEVES[t].0;
                if noun != petkind && !has_word(fkind, noun) {
                    break t;
                }
            }
        } else {
            0
        };
        let thief_noun = if plot == Plot::Taken { THIEVES[thief].0 } else { "" };
        let fkind_noun = fkind.rsplit(' ').next().unwrap_or("");
        let avoid = vec![object, thief_noun, petkind, fkind_noun];
        let a = |rng: &mut Rng, list: &[&'static str]| pick_avoiding(rng, list, &avoid);
        let cast = Cast {
            plot,
            names: [hero, friend, pet, object, thief_noun],
            hero_girl,
            friend_girl,
            pet_girl: rng.below(2) == 0,
            fkind,
            petkind,
            petadj: a(&mut rng, PET_ADJS),
            oadj: a(&mut rng, OBJ_ADJS),
            ocol: a(&mut rng, COLORS),
            odetail: a(&mut rng, OBJ_DETAILS),
            origin: rng.below(ORIGINS.len()),
            place: a(&mut rng, PLACES),
            season: rng.below(SEASONS.len()),
            home: a(&mut rng, HOMES),
            grand: a(&mut rng, GROWNUPS),
            trait_: a(&mut rng, TRAITS),
            thief,
            thiefadj: a(&mut rng, THIEF_ADJS),
            tall: a(&mut rng, TALL_PLACES),
            hide: a(&mut rng, HIDING_PLACES),
            fixer: a(&mut rng, FIXERS),
            avoid: avoid.clone(),
        };
        Writer { rng, cast, text: String::with_capacity(2048), marks: Vec::new(), locals: Vec::new(), at_par_start: true }
    }

    /// Write the whole story: intro, setting, problem, helper, middle, resolution, callback, moral.
    fn write(mut self) -> Story {
        let plot = self.cast.plot as usize;
        let has_pet = !self.cast.names[PET].is_empty();
        let friend_early = self.rng.below(100) < 30;

        // Intro: the hero and the object, named in the first two sentences.
        let origin = ORIGINS[self.cast.origin];
        if self.rng.below(100) < 25 {
            self.say_from(OBJECT_FIRST_INTROS);
            self.say(origin.1);
        } else {
            self.say_from(HERO_INTROS);
            self.say(origin.0);
        }
        self.say_some(OBJECT_LOVES, 1, 2);
        if has_pet {
            self.say_from(PET_INTROS);
        }
        if friend_early {
            self.say_from(FRIEND_EARLY);
        }
        self.paragraph();

        // Setting and a quiet moment before the trouble.
        self.say_from(SETTINGS);
        match self.rng.below(10) {
            0..=2 => self.say_from(WEATHERS),
            3..=5 => self.say("{seasonweather}"),
            _ => {}
        }
        self.say_some(PLAYS, 0, 2);
        self.paragraph();

        // The problem.
        self.say_from(PROBLEMS[plot]);
        self.say_some(REACTIONS, 1, 2);
        self.paragraph();

        // The helper.
        self.say_from(if friend_early { HELPER_KNOWN } else { HELPER_NEW });
        self.say_from(ASKS);
        self.say_from(REPLIES[plot]);
        self.say_from(OFFERS);
        self.paragraph();

        // The middle: a handful of distinct events, two or three per paragraph.
        let n_events = 2 + self.rng.below(4);
        let mut order: Vec<usize> = (0..EVENTS.len()).collect();
        self.rng.shuffle(&mut order);
        let pet_slot = if has_pet { self.rng.below(n_events) } else { usize::MAX };
        let mut in_par = 0;
        for (k, &e) in order.iter().take(n_events).enumerate() {
            self.say(EVENTS[e]);
            if k == pet_slot {
                self.say_from(PET_EVENTS);
            }
            in_par += 1;
            if in_par >= 2 + self.rng.below(2) && k + 1 < n_events {
                self.paragraph();
                in_par = 0;
            }
        }
        self.paragraph();

        // Resolution and celebration.
        self.say_from(RESOLUTIONS[plot]);
        self.say_from(CELEBRATIONS);
        self.say_from(HOMEWARDS);
        self.paragraph();

        // Callback to the beginning, then a moral.
        self.say_some(CALLBACKS, 1, 2);
        if has_pet && self.rng.below(2) == 0 {
            self.say_from(PET_CALLBACKS);
        }
        if self.rng.below(2) == 0 {
            self.say_from(PLOT_MORALS[plot]);
        } else {
            self.say_from(MORALS);
        }
        self.finish()
    }

    /// Turn the marks into mentions: an entity's first mark is its
    /// introduction, every later mark is a re-mention.
    fn finish(self) -> Story {
        let mut intro: [Option<usize>; 5] = [None; 5];
        let mut mentions = Vec::new();
        for &(ent, byte) in &self.marks {
            match intro[ent] {
                None => intro[ent] = Some(byte),
                Some(first) => {
                    mentions.push(Mention { entity: ent, name: self.cast.names[ent].to_string(), intro_byte: first, mention_byte: byte })
                }
            }
        }
        Story { text: self.text, mentions }
    }

    fn paragraph(&mut self) {
        if !self.at_par_start {
            self.text.push('\n');
            self.at_par_start = true;
        }
    }

    fn say_from(&mut self, list: &'static [&'static str]) {
        let t = *self.rng.pick(list);
        self.say(t);
    }

    /// Say between `lo` and `hi` distinct templates from `list`.
    fn say_some(&mut self, list: &'static [&'static str], lo: usize, hi: usize) {
        let n = lo + self.rng.below(hi - lo + 1);
        let first = self.rng.below(list.len());
        let step = 1 + self.rng.below(list.len() - 1);
        for k in 0..n.min(list.len()) {
            self.say(list[(first + k * step) % list.len()]);
        }
    }

    /// Render one top-level template as the next sentence(s) of the paragraph.
    fn say(&mut self, template: &'static str) {
        if !self.at_par_start {
            self.text.push(' ');
        }
        self.at_par_start = false;
        self.locals.clear();
        self.render(template);
    }

    fn render(&mut self, t: &'static str) {
        let mut rest = t;
        while let Some(open) = rest.find('{') {
            self.text.push_str(&rest[..open]);
            let close = open + rest[open..].find('}').expect("unclosed { in template");
            self.put(&rest[open + 1..close]);
            rest = &rest[close + 1..];
        }
        self.text.push_str(rest);
    }

    /// Write the value of one `{key}`, handling the `^` and `a:` prefixes.
    fn put(&mut self, key: &'static str) {
        let (cap, key) = match key.strip_prefix('^') {
            Some(k) => (true, k),
            None => (false, key),
        };
        let (art, key) = match key.strip_prefix("a:") {
            Some(k) => (true, k),
            None => (false, key),
        };
        let start = self.text.len();
        self.value(key);
        if art {
            let a = article_for(&self.text[start..]);
            self.text.insert_str(start, a);
            for m in self.marks.iter_mut().filter(|m| m.1 >= start) {
                m.1 += a.len();
            }
        }
        if cap {
            if let Some(c) = self.text[start..].chars().next() {
                let up = c.to_ascii_uppercase().to_string();
                self.text.replace_range(start..start + c.len_utf8(), &up);
            }
        }
    }

    fn entity(&mut self, ent: usize) {
        let name = self.cast.names[ent];
        debug_assert!(!name.is_empty(), "template names an absent entity");
        self.marks.push((ent, self.text.len()));
        self.text.push_str(name);
    }

    fn value(&mut self, key: &'static str) {
        let c = &self.cast;
        let pron = |girl: bool, she: &'static str, he: &'static str| if girl { she } else { he };
        let word: &'static str = match key {
            "H" => return self.entity(HERO),
            "F" => return self.entity(FRIEND),
            "Pet" => return self.entity(PET),
            "O" => return self.entity(OBJECT),
            "T" => return self.entity(THIEF),
            "he" => pron(c.hero_girl, "she", "he"),
            "He" => pron(c.hero_girl, "She", "He"),
            "his" => pron(c.hero_girl, "her", "his"),
            "His" => pron(c.hero_girl, "Her", "His"),
            "him" => pron(c.hero_girl, "her", "him"),
            "himself" => pron(c.hero_girl, "herself", "himself"),
            "kid" => pron(c.hero_girl, "girl", "boy"),
            "fhe" => pron(c.friend_girl, "she", "he"),
            "fhis" => pron(c.friend_girl, "her", "his"),
            "fhim" => pron(c.friend_girl, "her", "him"),
            "Phe" => pron(c.pet_girl, "She", "He"),
            "phim" => pron(c.pet_girl, "her", "him"),
            "fkind" => c.fkind,
            "petkind" => c.petkind,
            "petadj" => c.petadj,
            "oadj" => c.oadj,
            "ocol" => c.ocol,
            "odetail" => c.odetail,
            "P" => c.place,
            "season" => SEASONS[c.season].0,
            "weatheradj" => draw(&mut self.rng, SEASONS[c.season].1),
            "seasonweather" => draw(&mut self.rng, SEASONS[c.season].2),
            "home" => c.home,
            "grand" => c.grand,
            "trait" => c.trait_,
            "thiefadj" => c.thiefadj,
            "tcome" => THIEVES[c.thief].1,
            "tgo" => THIEVES[c.thief].2,
            "thome" => THIEVES[c.thief].3,
            "tall" => c.tall,
            "hide" => c.hide,
            "fixer" => c.fixer,
            "origin" => ORIGINS[c.origin].2,
            "goal" => draw(&mut self.rng, GOALS[c.plot as usize]),
            "question" => draw(&mut self.rng, QUESTIONS[c.plot as usize]),
            "fixit" => draw(&mut self.rng, FIXITS[c.plot as usize]),
            "adventure" => draw(&mut self.rng, ADVENTURES[c.plot as usize]),
            _ => {
                // A filler list, optionally held for the template by a digit suffix.
                let base = key.trim_end_matches(|ch: char| ch.is_ascii_digit());
                let held = base.len() != key.len();
                let found = if held { self.locals.iter().find(|l| l.0 == key).map(|l| l.1) } else { None };
                match found {
                    Some(w) => w,
                    None => {
                        let list = list_for(base).unwrap_or_else(|| panic!("unknown template key {{{key}}}"));
                        let mut w = pick_avoiding(&mut self.rng, list, &self.cast.avoid);
                        if base == "place" && w == self.cast.place {
                            w = pick_avoiding(&mut self.rng, list, &self.cast.avoid);
                        }
                        if held {
                            self.locals.push((key, w));
                        }
                        w
                    }
                }
            }
        };
        // Values may themselves hold placeholders ("{his} own bag").
        if word.contains('{') {
            self.render(word);
        } else {
            self.text.push_str(word);
        }
    }
}
