package terms

import "strings"

// Stopword lists: function words and filler that carry no topic. They are
// after the Snowball and NLTK lists (en, es, pt, de, fr) and the SlothLib
// list (ja), cut to what the normaliser can produce, plus social-media
// filler (lol, gonna). Entries are normalised at start-up like post text, so
// "daß" here matches "dass" in a post.
var stopwordLists = map[string]string{
	"en": `i me my myself we our ours ourselves you your yours yourself yourselves he him his himself
she her hers herself it its itself they them their theirs themselves what which who whom whose this
that these those am is are was were be been being have has had having do does did doing a an the and
but if or because as until while of at by for with about against between into through during before
after above below to from up down in out on off over under again further then once here there when
where why how all any both each few more most other some such no nor not only own same so than too
very can will just don should now ll re ve ain aren couldn didn doesn hadn hasn haven isn mightn
mustn needn shan shouldn wasn weren won wouldn i'm you're he's she's we're they're i've you've we've
they've i'd you'd he'd she'd we'd they'd i'll you'll he'll she'll we'll they'll isn't aren't wasn't
weren't hasn't haven't hadn't doesn't don't didn't won't wouldn't shan't shouldn't can't cannot
couldn't mustn't let let's ain't y'all im ive id youre theyre dont cant didnt doesnt isnt wont
thats also would could really get got gets getting like one much many even still yet lot lots
gonna wanna gotta yeah yes ok okay lol lmao omg oh hey well us via amp rt etc may might must
shall need thing things way make made makes going go goes went gone know knew think thought want
wants see saw seen say said says tell told every ever never always something anything nothing
everything someone anyone everyone people back though actually pretty maybe sure right good great`,
	"es": `de la que el en y a los del se las por un para con no una su al lo como más mas pero sus le
ya o este sí si porque esta entre cuando muy sin sobre también tambien me hasta hay donde quien desde
todo nos durante todos uno les ni contra otros ese eso ante ellos e esto mí antes algunos qué unos
yo otro otras otra él tanto esa estos mucho quienes nada muchos cual poco ella estar estas algunas
algo nosotros mi mis tú te ti tu tus ellas nosotras vosotros vosotras os mío mía míos mías tuyo
tuya tuyos tuyas suyo suya suyos suyas nuestro nuestra nuestros nuestras vuestro vuestra vuestros
vuestras esos esas estoy estás está estamos estáis están esté estaba estaban estado he has ha hemos
han había habían soy eres es somos sois son era eran fue fueron ser sido tengo tiene tienen tener
hace hacer va vamos voy pues así aquí ahí sea solo sólo cada bien ahora`,
	"pt": `de a o que e do da em um para é com não nao uma os no se na por mais as dos como mas foi ao
ele das tem à seu sua ou ser quando muito há nos já está eu também só pelo pela até isso ela entre
era depois sem mesmo aos ter seus quem nas me esse eles estão você voce tinha foram essa num nem
suas meu às minha têm numa pelos elas havia seja qual será nós tenho lhe deles essas esses pelas
este fosse dele tu te vocês vos lhes meus minhas teu tua teus tuas nosso nossa nossos nossas dela
delas esta estes estas aquele aquela aqueles aquelas isto aquilo estou estamos estive esteve estava
estavam sou somos são fui fomos sido temos vai vou vamos pra pro tá ta aqui ali lá então pois
assim agora ainda sim vc tb q`,
	"de": `aber alle allem allen aller alles als also am an ander andere anderem anderen anderer anderes
anderm andern anders auch auf aus bei bin bis bist da damit dann der den des dem die das dass daß
derselbe derselben denselben desselben demselben dieselbe dieselben dasselbe dazu dein deine deinem
deinen deiner deines denn derer dessen dich dir du dies diese diesem diesen dieser dieses doch dort
durch ein eine einem einen einer eines einig einige einigem einigen einiger einiges einmal er ihn
ihm es etwas euer eure eurem euren eurer eures für gegen gewesen hab habe haben hat hatte hatten
hier hin hinter ich mich mir ihr ihre ihrem ihren ihrer ihres euch im in indem ins ist jede jedem
jeden jeder jedes jene jenem jenen jener jenes jetzt kann kein keine keinem keinen keiner keines
können könnte machen man manche manchem manchen mancher manches mein meine meinem meinen meiner
meines mit muss musste nach nicht nichts noch nun nur ob oder ohne sehr sein seine seinem seinen
seiner seines selbst sich sie ihnen sind so solche solchem solchen solcher solches soll sollte
sondern sonst über um und uns unsere unserem unseren unser unseres unter viel vom von vor während
war waren warst was weg weil weiter welche welchem welchen welcher welches wenn werde werden wie
wieder will wir wird wirst wo wollen wollte würde würden zu zum zur zwar zwischen schon mal ja nein
gibt geht immer ganz gerade heute halt eben`,
	"fr": `au aux avec ce ces dans de des du elle en et eux il ils je la le les leur lui ma mais me même
mes moi mon ne nos notre nous on ou par pas pour qu que qui sa se ses son sur ta te tes toi ton tu
un une vos votre vous à été étant suis es est sommes êtes sont serai sera seront serais serait
étais était étaient fus fut ai as avons avez ont aurai aura avais avait avaient eu ceci cela ça
cet cette ici leurs quel quels quelle quelles sans soi tout tous toute toutes très plus moins aussi
bien comme donc alors car si où quand fait faire peu oui non`,
	"ja": `あそこ あの あのかた あります ある あれ いう います いる うち および おり おります かつて から
ここ こちら こと この これ これら さらに しかし する そこ そして その その他 その後 それ それぞれ
それで ただし たち ため たり だっ だれ でき できる です では でも という といった とき ところ
として とともに とも どこ どの ない なお なかっ ながら なく なっ など なに なら なり なる なん
において における について にて によって により による に対して に対する に関する ので のみ ほか
ほとんど ほど ます また または まで もの ものの よう より られ られる 及び 特に ました ません
でした ですね ですが ますね ください ちゃん さん くん けど けれど けれども じゃない じゃん だけど
だから なんか なんて みたい ような ように ちょっと とても すごく やっぱり もう まだ した して
している してる しまう しまった いた いない いって いつも なかった ないで こんな そんな あんな
どんな これから 今回 自分 あなた 彼女 私たち 僕ら ござい ございます ありがとう ありがとうございます`,
}

// stopSets maps a language to its stopword set: the language's own list plus
// English, because English words and hashtag-speak appear in posts of every
// language. "und" gets every list, less undKeep.
var stopSets = buildStopSets()

func buildStopSets() map[string]map[string]struct{} {
	words := func(lang string) []string { return strings.Fields(stopwordLists[lang]) }
	sets := map[string]map[string]struct{}{}
	all := map[string]struct{}{}
	for lang := range stopwordLists {
		set := map[string]struct{}{}
		for _, l := range []string{lang, "en"} {
			for _, w := range words(l) {
				set[normalize(w)] = struct{}{}
				all[normalize(w)] = struct{}{}
			}
		}
		sets[lang] = set
	}
	// A post without a language is most often English, so function words
	// of other languages that are English content words stay terms there.
	for _, w := range strings.Fields(undKeep) {
		delete(all, w)
	}
	sets[Undetermined] = all
	return sets
}

// undKeep are stopwords of es, pt, de or fr that are English content words.
const undKeep = "war die hat man den bin son era sin con sea pro car mal ante"

// stopwordsFor returns the stopword set for lang; languages without a list
// use English's.
func stopwordsFor(lang string) map[string]struct{} {
	if set, ok := stopSets[lang]; ok {
		return set
	}
	return stopSets["en"]
}

// Languages lists the languages with their own stopword list.
func Languages() []string {
	return []string{"de", "en", "es", "fr", "ja", "pt"}
}
